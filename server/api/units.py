from flask.views import MethodView

from schemas.units import UnitQuerySchema, UnitSchema, UnitUpdateSchema
from server import auth
from server.api.blueprint import Blueprint
from server.api.pagination import PAGE_ARGS, SelectPage
from server.services import units

blp = Blueprint("units", __name__, url_prefix="/api/v1/units", description="Dispatching units")


@blp.route("")
class Units(MethodView):
    @auth.required()
    @blp.arguments(UnitQuerySchema, location="query")
    @blp.response(200, UnitSchema(many=True))
    @blp.paginate(SelectPage, **PAGE_ARGS)
    def get(self, args):
        """List dispatching units"""
        return units.list_(actor=auth.current_user(), **args)

    @auth.required("admin", "reviewer")
    @blp.arguments(UnitSchema)
    @blp.response(201, UnitSchema)
    @blp.alt_response(403, description="out_of_jurisdiction: the region is outside yours")
    @blp.alt_response(409, description="A unit with this name exists")
    def post(self, args):
        """Create a dispatching unit (admins; reviewers within their jurisdiction)"""
        return units.create(actor=auth.current_user(), **args)


@blp.route("/<int(max=2147483647):unit_id>")
class UnitById(MethodView):
    @auth.required()
    @blp.response(200, UnitSchema)
    @blp.alt_response(404, description="No such unit")
    def get(self, unit_id):
        """One dispatching unit"""
        return units.get(actor=auth.current_user(), unit_id=unit_id)

    @auth.required("admin", "reviewer")
    @blp.arguments(UnitUpdateSchema(partial=True))
    @blp.response(200, UnitSchema)
    @blp.alt_response(403, description="out_of_jurisdiction: the unit is not one of yours")
    @blp.alt_response(404, description="No such unit")
    def patch(self, args, unit_id):
        """Update a dispatching unit"""
        return units.update(actor=auth.current_user(), unit_id=unit_id, **args)
