from flask.views import MethodView

from schemas.leaves import (
    LeaveCloseSchema,
    LeaveCreateSchema,
    LeaveDecisionSchema,
    LeaveQuerySchema,
    LeaveSchema,
)
from server import auth
from server.api.blueprint import Blueprint
from server.api.pagination import PAGE_ARGS, SelectPage
from server.services import leaves

blp = Blueprint(
    "leaves", __name__, url_prefix="/api/v1/leaves", description="Leave and declared duty trips"
)


@blp.route("")
class Leaves(MethodView):
    @auth.required()
    @blp.arguments(LeaveQuerySchema, location="query")
    @blp.response(200, LeaveSchema(many=True))
    @blp.paginate(SelectPage, **PAGE_ARGS)
    def get(self, args):
        """Leave and duty trips in scope, latest first (a cadre sees their own)"""
        return leaves.list_(actor=auth.current_user(), **args)

    @auth.required("cadre")
    @blp.arguments(LeaveCreateSchema)
    @blp.response(201, LeaveSchema)
    @blp.alt_response(409, description="Overlaps a pending or approved leave of the posting")
    def post(self, args):
        """Ask for leave or declare a duty trip"""
        return leaves.create(actor=auth.current_user(), **args)


@blp.route("/<int(max=2147483647):leave_id>")
class LeaveById(MethodView):
    @auth.required()
    @blp.response(200, LeaveSchema)
    @blp.alt_response(404, description="No such leave in your scope")
    def get(self, leave_id):
        """One leave, with the cadre's approved leave days that year"""
        return leaves.get(actor=auth.current_user(), leave_id=leave_id)


@blp.route("/<int(max=2147483647):leave_id>/decision")
class LeaveDecision(MethodView):
    @auth.required("admin", "reviewer")
    @blp.arguments(LeaveDecisionSchema)
    @blp.response(200, LeaveSchema)
    @blp.alt_response(404, description="No such leave in your scope")
    @blp.alt_response(409, description="Not pending, or it touches a closed month")
    def post(self, args, leave_id):
        """Approve or reject a pending leave, at the level its duration needs"""
        return leaves.decide(actor=auth.current_user(), leave_id=leave_id, **args)


@blp.route("/<int(max=2147483647):leave_id>/cancel")
class LeaveCancel(MethodView):
    @auth.required("cadre")
    @blp.response(200, LeaveSchema)
    @blp.alt_response(404, description="No such leave in your scope")
    @blp.alt_response(409, description="No longer pending")
    def post(self, leave_id):
        """Withdraw your own pending request"""
        return leaves.cancel(actor=auth.current_user(), leave_id=leave_id)


@blp.route("/<int(max=2147483647):leave_id>/close")
class LeaveClose(MethodView):
    @auth.required("admin", "reviewer")
    @blp.arguments(LeaveCloseSchema)
    @blp.response(200, LeaveSchema)
    @blp.alt_response(404, description="No such leave in your scope")
    @blp.alt_response(409, description="Not approved, already closed, or in a closed month")
    def post(self, args, leave_id):
        """Close out (销假) an approved leave by hand with the first day back"""
        return leaves.close(actor=auth.current_user(), leave_id=leave_id, **args)
