from flask.views import MethodView
from flask_smorest import Blueprint

from schemas.draws import AssignmentSchema
from server import auth
from server.api.pagination import PAGE_ARGS, SelectPage
from server.services import assignments

blp = Blueprint(
    "assignments", __name__, url_prefix="/api/v1/assignments", description="Inspection assignments"
)


class RecordedPage(SelectPage):
    """A page of assignments whose every read is audited."""

    @property
    def items(self):
        return assignments.record_reads(actor=auth.current_user(), assignments=super().items)


@blp.route("")
class Assignments(MethodView):
    @auth.required("admin", "reviewer", "inspector")
    @blp.response(200, AssignmentSchema(many=True))
    @blp.paginate(RecordedPage, **PAGE_ARGS)
    def get(self):
        """Your assignments (inspectors: from the window's start), newest draw first"""
        return assignments.list_(actor=auth.current_user())


@blp.route("/<int(max=2147483647):assignment_id>")
class AssignmentById(MethodView):
    @auth.required("admin", "reviewer", "inspector")
    @blp.response(200, AssignmentSchema)
    @blp.alt_response(404, description="No such assignment visible to you")
    def get(self, assignment_id):
        """One assignment"""
        return assignments.get(actor=auth.current_user(), assignment_id=assignment_id)
