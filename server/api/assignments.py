from flask.views import MethodView

from schemas.checkins import CheckinSchema, PhotoFilesSchema
from schemas.draws import AssignmentSchema
from schemas.findings import ArrivalFieldsSchema, FindingCreateSchema, FindingSchema
from server import auth
from server.api.blueprint import Blueprint
from server.api.checkins import read_photos
from server.api.pagination import PAGE_ARGS, SelectPage
from server.services import assignments, findings

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


@blp.route("/<int(max=2147483647):assignment_id>/arrival")
class AssignmentArrival(MethodView):
    uploads_in_memory = True  # server.http.UploadRequest

    @auth.required("inspector")
    @blp.arguments(ArrivalFieldsSchema, location="form")
    @blp.arguments(PhotoFilesSchema, location="files")
    @blp.response(201, CheckinSchema, description="Recorded (200: an identical resend)")
    @blp.alt_response(200, schema=CheckinSchema, description="The original, for a resend")
    @blp.alt_response(404, description="No such assignment visible to you")
    def post(self, fields, files, assignment_id):
        """Record the team's arrival: a check-in at the target village (multipart)"""
        outcome = findings.record_arrival(
            actor=auth.current_user(),
            assignment_id=assignment_id,
            photo_files=read_photos(files),
            **fields,
        )
        return outcome.checkin, (201 if outcome.created else 200)


@blp.route("/<int(max=2147483647):assignment_id>/findings")
class AssignmentFindings(MethodView):
    @auth.required("inspector")
    @blp.arguments(FindingCreateSchema)
    @blp.response(201, FindingSchema)
    @blp.alt_response(404, description="No such assignment visible to you")
    @blp.alt_response(409, description="A draft awaits signatures, or a final one exists")
    def post(self, args, assignment_id):
        """File the finding (the filer signs; final once every team member has signed)"""
        return findings.create(actor=auth.current_user(), assignment_id=assignment_id, **args)
