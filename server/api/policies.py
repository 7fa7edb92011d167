from flask.views import MethodView

from schemas.policies import (
    InForceQuerySchema,
    InForceSchema,
    PolicyCreateSchema,
    PolicyQuerySchema,
    PolicySchema,
)
from server import auth
from server.api.blueprint import Blueprint
from server.api.pagination import PAGE_ARGS, SelectPage
from server.services import policies

blp = Blueprint(
    "policies",
    __name__,
    url_prefix="/api/v1/policies",
    description="Per-jurisdiction rules, versioned with effective dates",
)


@blp.route("")
class Policies(MethodView):
    @auth.required()
    @blp.arguments(PolicyQuerySchema, location="query")
    @blp.response(200, PolicySchema(many=True))
    @blp.paginate(SelectPage, **PAGE_ARGS)
    def get(self, args):
        """Policy versions, province first, then by effective date and version"""
        return policies.list_(actor=auth.current_user(), **args)

    @auth.required("admin", "reviewer")
    @blp.arguments(PolicyCreateSchema)
    @blp.response(201, PolicySchema)
    @blp.alt_response(403, description="out_of_jurisdiction: the region is outside yours")
    @blp.alt_response(409, description="The effective date lies in a closed month")
    def post(self, args):
        """Add a region's next policy version (only the settings it changes)"""
        return policies.create(actor=auth.current_user(), **args)


@blp.route("/in-force")
class PolicyInForce(MethodView):
    @auth.required()
    @blp.arguments(InForceQuerySchema, location="query")
    @blp.response(200, InForceSchema)
    def get(self, args):
        """The whole policy in force in a region on a date, and the versions behind it"""
        return policies.in_force(**args)


@blp.route("/<int(max=2147483647):policy_id>")
class PolicyById(MethodView):
    @auth.required()
    @blp.response(200, PolicySchema)
    @blp.alt_response(404, description="No such policy version")
    def get(self, policy_id):
        """One policy version"""
        return policies.get(actor=auth.current_user(), policy_id=policy_id)
