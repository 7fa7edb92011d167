from flask import Response
from flask.views import MethodView

from schemas.cases import (
    AnswerFieldsSchema,
    AnswerFilesSchema,
    AnswerSchema,
    CaseCreateSchema,
    CaseQuerySchema,
    CaseSchema,
    CaseSummarySchema,
    DecisionCreateSchema,
    DecisionSchema,
)
from server import auth
from server.api.blueprint import Blueprint
from server.api.pagination import PAGE_ARGS, SelectPage
from server.http import upload_bytes
from server.services import case_answers, case_decisions, cases

blp = Blueprint(
    "cases",
    __name__,
    url_prefix="/api/v1",
    description="Cases: from recommendation to decision, with the cadre's answers",
)
CASE = "/cases/<int(max=2147483647):case_id>"


@blp.route("/cases")
class Cases(MethodView):
    @auth.required("reviewer", "admin")
    @blp.arguments(CaseCreateSchema)
    @blp.response(201, CaseSchema)
    @blp.alt_response(403, description="own_case (a case about yourself)")
    @blp.alt_response(404, description="No such recommendation or posting in your scope")
    @blp.alt_response(409, description="case_exists; recommendation_set_aside")
    @blp.alt_response(422, description="evidence_not_found; validation_error")
    def post(self, args):
        """Open a case from a recommendation, or on your own initiative"""
        return cases.open_(actor=auth.current_user(), **args)

    @auth.required()
    @blp.arguments(CaseQuerySchema, location="query")
    @blp.response(200, CaseSummarySchema(many=True))
    @blp.paginate(SelectPage, **PAGE_ARGS)
    def get(self, args):
        """Cases in scope, newest first (a cadre sees their own)"""
        return cases.list_(actor=auth.current_user(), **args)


@blp.route("/me/cases")
class MyCases(MethodView):
    @auth.required("cadre")
    @blp.response(200, CaseSummarySchema(many=True))
    @blp.paginate(SelectPage, **PAGE_ARGS)
    def get(self):
        """Cases about you (poll this): undecided first, then newest, with deadlines"""
        return cases.mine(actor=auth.current_user())


@blp.route(CASE)
class CaseById(MethodView):
    @auth.required()
    @blp.response(200, CaseSchema)
    @blp.alt_response(404, description="No such case in your scope")
    def get(self, case_id):
        """One case: evidence, answers with attachments, decisions, replacement owed"""
        return cases.get(actor=auth.current_user(), case_id=case_id)


@blp.route(f"{CASE}/answers")
class CaseAnswers(MethodView):
    uploads_in_memory = True  # server.http.UploadRequest

    @auth.required()
    @blp.arguments(AnswerFieldsSchema, location="form")
    @blp.arguments(AnswerFilesSchema, location="files")
    @blp.response(201, AnswerSchema)
    @blp.alt_response(403, description="not_your_case: only the cadre of the case answers")
    @blp.alt_response(404, description="No such case in your scope")
    @blp.alt_response(409, description="case_decided")
    @blp.alt_response(413, description="attachment_too_large (10 MB each)")
    @blp.alt_response(415, description="attachment_unsupported_type")
    @blp.alt_response(422, description="attachment_empty; validation_error")
    def post(self, fields, files, case_id):
        """Explain or appeal, with 0-5 attachments (multipart); late answers are marked"""
        uploads = [(f.filename, upload_bytes(f)) for f in files.get("attachments", [])]
        return case_answers.answer(
            actor=auth.current_user(), case_id=case_id, files=uploads, **fields
        )


@blp.route(f"{CASE}/attachments/<int(max=2147483647):attachment_id>")
class CaseAttachmentById(MethodView):
    @auth.required()
    @blp.response(200, {"type": "string", "format": "binary"}, content_type="*/*")
    @blp.alt_response(404, description="No such attachment in your scope; evidence_file_missing")
    def get(self, case_id, attachment_id):
        """Download an answer's attachment (every download is audited)"""
        view = case_answers.attachment_bytes(
            actor=auth.current_user(), case_id=case_id, attachment_id=attachment_id
        )
        return Response(view.data, content_type=view.mime_type, headers=view.headers())


@blp.route(f"{CASE}/decisions")
class CaseDecisions(MethodView):
    @auth.required("reviewer", "admin")
    @blp.arguments(DecisionCreateSchema)
    @blp.response(
        201,
        DecisionSchema,
        description="Recorded. A recall ends the posting (status recalled, end date today), "
        "records the policy's promotion bar and opens the unit's replacement obligation. "
        "A later correction to a milder measure does not undo these: the posting stays "
        "ended and the obligation stays (the correction's notice says so); post the cadre "
        "again to reinstate them. The level needed is the case's, or the decided measure's "
        "if higher.",
    )
    @blp.alt_response(403, description="decision_level_required; own_case")
    @blp.alt_response(
        404, description="No such case in your scope (also outside your jurisdiction)"
    )
    @blp.alt_response(
        409,
        description="answer_period_open (with the deadline); case_decided (correct the "
        "latest decision instead); decision_superseded; posting_not_active (recall)",
    )
    def post(self, args, case_id):
        """Decide, with a written reason; a correction names the latest decision"""
        return case_decisions.decide(actor=auth.current_user(), case_id=case_id, **args)
