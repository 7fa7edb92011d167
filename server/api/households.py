from flask.views import MethodView

from schemas.households import HouseholdQuerySchema, HouseholdSchema, HouseholdUpdateSchema
from server import auth
from server.api.blueprint import Blueprint
from server.api.pagination import PAGE_ARGS, SelectPage
from server.services import households

blp = Blueprint(
    "households", __name__, url_prefix="/api/v1/households", description="Paired households"
)


@blp.route("")
class Households(MethodView):
    @auth.required()
    @blp.arguments(HouseholdQuerySchema, location="query")
    @blp.response(200, HouseholdSchema(many=True))
    @blp.paginate(SelectPage, **PAGE_ARGS)
    def get(self, args):
        """List households in scope (an aid cadre sees those paired with them)"""
        return households.list_(actor=auth.current_user(), **args)

    @auth.required("admin", "reviewer")
    @blp.arguments(HouseholdSchema)
    @blp.response(201, HouseholdSchema)
    @blp.alt_response(403, description="out_of_jurisdiction: the village is outside yours")
    @blp.alt_response(409, description="The village has a household with this code")
    def post(self, args):
        """Register a household and its paired aid cadres"""
        return households.create(actor=auth.current_user(), **args)


@blp.route("/<int(max=2147483647):household_id>")
class HouseholdById(MethodView):
    @auth.required()
    @blp.response(200, HouseholdSchema)
    @blp.alt_response(404, description="No such household in your scope")
    def get(self, household_id):
        """One household"""
        return households.get(actor=auth.current_user(), household_id=household_id)

    @auth.required("admin", "reviewer")
    @blp.arguments(HouseholdUpdateSchema(partial=True))
    @blp.response(200, HouseholdSchema)
    @blp.alt_response(404, description="No such household in your scope")
    def patch(self, args, household_id):
        """Update a household or its pairing"""
        return households.update(actor=auth.current_user(), household_id=household_id, **args)
