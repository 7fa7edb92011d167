from flask import Response
from flask.views import MethodView

from schemas.problems import (
    ProblemCreateSchema,
    ProblemDetailSchema,
    ProblemLineSchema,
    ProblemQuerySchema,
    ProblemSummaryQuerySchema,
    ProblemSummarySchema,
    RectificationPhotosSchema,
    StepNoteSchema,
)
from server import auth
from server.api.blueprint import Blueprint
from server.api.checkins import read_photos
from server.api.pagination import PAGE_ARGS, SelectPage
from server.services import problem_exports, problem_queries, problems

blp = Blueprint(
    "problems",
    __name__,
    url_prefix="/api/v1/problems",
    description="The problem list (问题清单) and rectification ledger (整改台账)",
)
PROBLEM = "/<int(max=2147483647):problem_id>"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ProblemPage(SelectPage):
    """A page of problems with their places, in a few queries for the page."""

    @property
    def items(self):
        return problem_queries.views(super().items)


@blp.route("")
class Problems(MethodView):
    @auth.required()
    @blp.arguments(ProblemQuerySchema, location="query")
    @blp.response(200, ProblemLineSchema(many=True))
    @blp.paginate(ProblemPage, **PAGE_ARGS)
    def get(self, args):
        """Problems in scope, newest first (a cadre sees those about their postings)"""
        return problem_queries.list_(actor=auth.current_user(), **args)

    @auth.required("reviewer", "admin")
    @blp.arguments(ProblemCreateSchema)
    @blp.response(201, ProblemDetailSchema)
    @blp.alt_response(403, description="out_of_jurisdiction: the village is outside yours")
    def post(self, args):
        """Enter a problem found otherwise than by an inspection; it starts open"""
        return problems.create(actor=auth.current_user(), **args)


@blp.route("/summary")
class Summary(MethodView):
    @auth.required("reviewer", "admin")
    @blp.arguments(ProblemSummaryQuerySchema, location="query")
    @blp.response(200, ProblemSummarySchema(many=True))
    def get(self, args):
        """Counts per responsible unit (or county): by state, overdue, verified on time"""
        return problem_queries.summary(actor=auth.current_user(), **args)


@blp.route("/export")
class Export(MethodView):
    @auth.required("reviewer", "admin")
    @blp.arguments(ProblemQuerySchema, location="query")
    @blp.response(200, {"type": "string", "format": "binary"}, content_type=XLSX)
    def get(self, args):
        """The list and its rectification ledger as XLSX (问题清单 / 整改台账)"""
        data = problem_exports.export(actor=auth.current_user(), **args)
        response = Response(data, mimetype=XLSX)
        response.headers["Content-Disposition"] = "attachment; filename=problems.xlsx"
        return response


@blp.route(PROBLEM)
class ProblemById(MethodView):
    @auth.required()
    @blp.response(200, ProblemDetailSchema)
    @blp.alt_response(404, description="No such problem visible to you")
    def get(self, problem_id):
        """One problem with its rectification trail and photos"""
        return problem_queries.get(actor=auth.current_user(), problem_id=problem_id)


@blp.route(f"{PROBLEM}/start")
class Start(MethodView):
    @auth.required()
    @blp.arguments(StepNoteSchema)
    @blp.response(200, ProblemDetailSchema)
    @blp.alt_response(404, description="No such problem visible to you")
    @blp.alt_response(409, description="Not open or reopened")
    def post(self, args, problem_id):
        """Start rectifying (the responsible cadre, or the department)"""
        return problems.start(actor=auth.current_user(), problem_id=problem_id, **args)


@blp.route(f"{PROBLEM}/submit")
class Submit(MethodView):
    uploads_in_memory = True  # server.http.UploadRequest

    @auth.required()
    @blp.arguments(StepNoteSchema, location="form")
    @blp.arguments(RectificationPhotosSchema, location="files")
    @blp.response(200, ProblemDetailSchema)
    @blp.alt_response(404, description="No such problem visible to you")
    @blp.alt_response(409, description="Not in rectification")
    @blp.alt_response(413, description="A photo or the request is too large")
    @blp.alt_response(415, description="A photo is not JPEG, PNG, WebP or HEIC")
    def post(self, form, files, problem_id):
        """Submit the rectification with 1-5 photos of the result (multipart)"""
        return problems.submit(
            actor=auth.current_user(),
            problem_id=problem_id,
            photo_files=read_photos(files),
            **form,
        )


@blp.route(f"{PROBLEM}/verify")
class Verify(MethodView):
    @auth.required("reviewer", "admin")
    @blp.arguments(StepNoteSchema)
    @blp.response(200, ProblemDetailSchema)
    @blp.alt_response(404, description="No such problem visible to you")
    @blp.alt_response(409, description="Not submitted")
    def post(self, args, problem_id):
        """Accept a submitted rectification (not by its submitter)"""
        return problems.verify(actor=auth.current_user(), problem_id=problem_id, **args)


@blp.route(f"{PROBLEM}/reopen")
class Reopen(MethodView):
    @auth.required("reviewer", "admin")
    @blp.arguments(StepNoteSchema)
    @blp.response(200, ProblemDetailSchema)
    @blp.alt_response(404, description="No such problem visible to you")
    @blp.alt_response(409, description="Neither submitted nor verified")
    def post(self, args, problem_id):
        """Send a submitted or verified rectification back, with the reason"""
        return problems.reopen(actor=auth.current_user(), problem_id=problem_id, **args)
