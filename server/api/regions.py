from flask.views import MethodView

from schemas.regions import RegionQuerySchema, RegionSchema, RegionUpdateSchema
from server import auth
from server.api.blueprint import Blueprint
from server.api.pagination import PAGE_ARGS, SelectPage
from server.services import regions

blp = Blueprint(
    "regions", __name__, url_prefix="/api/v1/regions", description="Administrative divisions"
)


@blp.route("")
class Regions(MethodView):
    @auth.required()
    @blp.arguments(RegionQuerySchema, location="query")
    @blp.response(200, RegionSchema(many=True))
    @blp.paginate(SelectPage, **PAGE_ARGS)
    def get(self, args):
        """List regions (filter by level, parent, subtree, name)"""
        return regions.list_(actor=auth.current_user(), **args)

    @auth.required("admin")
    @blp.arguments(RegionSchema)
    @blp.response(201, RegionSchema)
    @blp.alt_response(409, description="The code exists already")
    def post(self, args):
        """Create a region under its existing parent (admins)"""
        return regions.create(actor=auth.current_user(), **args)


@blp.route("/<int(max=2147483647):region_id>")
class RegionById(MethodView):
    @auth.required()
    @blp.response(200, RegionSchema)
    @blp.alt_response(404, description="No such region")
    def get(self, region_id):
        """One region"""
        return regions.get(actor=auth.current_user(), region_id=region_id)

    @auth.required("admin")
    @blp.arguments(RegionUpdateSchema(partial=True))
    @blp.response(200, RegionSchema)
    @blp.alt_response(404, description="No such region")
    def patch(self, args, region_id):
        """Rename a region, or set a village's post position and geofence (admins)"""
        return regions.update(actor=auth.current_user(), region_id=region_id, **args)
