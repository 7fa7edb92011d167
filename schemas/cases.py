"""Cases: opening one, the cadre's answers, decisions, and the replacement a recall
leaves owed."""

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import validate

from schemas.common import Id
from schemas.reviews import not_blank, written
from server.models.cases import CASE_STATUSES, DECISIONS, MEASURES
from server.services import case_decisions, replacements
from server.services.case_answers import ANSWER_KINDS, MAX_ATTACHMENTS
from server.services.cases import EVIDENCE_TYPES

MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])\Z"


class EvidenceItemSchema(ma.Schema):
    type = ma.fields.String(required=True, validate=validate.OneOf(EVIDENCE_TYPES))
    id = Id(metadata={"description": "The row cited (every type but ledger_month)"})
    month = ma.fields.String(
        validate=validate.Regexp(MONTH, error="Must be YYYY-MM."),
        metadata={"description": "ledger_month: the posting's month, YYYY-MM"},
    )
    note = ma.fields.String(validate=validate.Length(max=500))

    @ma.validates_schema
    def names_its_row(self, data, **kwargs):
        if data.get("type") == "ledger_month":
            if "month" not in data:
                raise ma.ValidationError("Required for ledger_month.", "month")
        elif "id" not in data:
            raise ma.ValidationError("Required.", "id")


SOURCE_FIELDS = ("posting_id", "proposed_measure", "summary", "evidence")


class CaseCreateSchema(ma.Schema):
    recommendation_id = Id(
        metadata={"description": "Open from this recommendation (it brings everything else)"}
    )
    posting_id = Id(metadata={"description": "Own initiative: the posting concerned"})
    proposed_measure = ma.fields.String(validate=validate.OneOf(MEASURES))
    summary = ma.fields.String(validate=validate.Length(1, 5000))
    evidence = ma.fields.List(
        ma.fields.Nested(EvidenceItemSchema), validate=validate.Length(max=100)
    )

    @ma.validates_schema
    def one_source(self, data, **kwargs):
        if "recommendation_id" in data:
            extra = [key for key in SOURCE_FIELDS if key in data]
            if extra:
                raise ma.ValidationError({key: ["Comes from the recommendation."] for key in extra})
            return
        missing = [key for key in ("posting_id", "proposed_measure", "summary") if key not in data]
        if missing:
            raise ma.ValidationError(
                {key: ["Required without recommendation_id."] for key in missing}
            )
        if not data["summary"].strip():
            raise ma.ValidationError("Must not be blank.", "summary")


class CaseQuerySchema(ma.Schema):
    status = ma.fields.String(validate=validate.OneOf(CASE_STATUSES))
    measure = ma.fields.String(
        validate=validate.OneOf(MEASURES), metadata={"description": "The proposed measure"}
    )
    posting_id = Id()
    cadre_id = Id()


class AnswerFieldsSchema(ma.Schema):
    kind = ma.fields.String(required=True, validate=validate.OneOf(ANSWER_KINDS))
    text = ma.fields.String(
        required=True,
        validate=[validate.Length(1, 20000), not_blank],
        metadata={"description": "The explanation or the grounds of the appeal; never edited"},
    )


class AnswerFilesSchema(ma.Schema):
    attachments = ma.fields.List(
        Upload(),
        validate=validate.Length(max=MAX_ATTACHMENTS),
        metadata={
            "description": "0-5 files: PDF, JPEG, PNG, WebP, HEIC or UTF-8 plain text, "
            "10 MB each at most (the type is read from the bytes, not the name)"
        },
    )


class DecisionCreateSchema(ma.Schema):
    measure = ma.fields.String(required=True, validate=validate.OneOf(DECISIONS))
    reason = written("Why: the cadre reads it")
    corrects_id = Id(
        metadata={"description": "A correction: the case's latest decision, which stays"}
    )


class ReplacementFulfilSchema(ma.Schema):
    posting_id = Id(
        required=True,
        metadata={"description": "The new active posting of the same unit in the same village"},
    )


class ReplacementQuerySchema(ma.Schema):
    status = ma.fields.String(validate=validate.OneOf(("open", "fulfilled")))
    unit_id = Id()
    overdue = ma.fields.Boolean(metadata={"description": "Open and past the deadline"})


class AttachmentSchema(ma.Schema):
    id = ma.fields.Integer()
    filename = ma.fields.String(metadata={"description": "As sent, made safe"})
    mime_type = ma.fields.String(metadata={"description": "From the bytes"})
    size_bytes = ma.fields.Integer()
    sha256 = ma.fields.String()


class AnswerSchema(ma.Schema):
    id = ma.fields.Integer()
    case_id = ma.fields.Integer()
    kind = ma.fields.String(metadata={"enum": list(ANSWER_KINDS)})
    text = ma.fields.String()
    submitted_by_id = ma.fields.Integer()
    submitted_at = ma.fields.AwareDateTime()
    late = ma.fields.Boolean(metadata={"description": "Sent after the deadline: kept, marked"})
    attachments = ma.fields.List(ma.fields.Nested(AttachmentSchema))


class ReplacementSchema(ma.Schema):
    id = ma.fields.Integer()
    unit_id = ma.fields.Integer()
    unit_name = ma.fields.String(attribute="unit.name")
    recalled_posting_id = ma.fields.Integer()
    village_code = ma.fields.String(attribute="recalled_posting.village.code")
    recalled_on = ma.fields.Date(attribute="recalled_posting.end_date")
    decision_id = ma.fields.Integer()
    case_id = ma.fields.Function(
        replacements.case_id_of, metadata={"type": "integer", "description": "The recall's case"}
    )
    deadline = ma.fields.Date()
    status = ma.fields.String(metadata={"enum": ["open", "fulfilled"]})
    overdue = ma.fields.Function(replacements.is_overdue, metadata={"type": "boolean"})
    replacement_posting_id = ma.fields.Integer(allow_none=True)
    fulfilled_at = ma.fields.AwareDateTime(allow_none=True)


class NoticeSchema(ma.Schema):
    code = ma.fields.String()
    message = ma.fields.String()
    message_zh = ma.fields.String()


class DecisionSchema(ma.Schema):
    id = ma.fields.Integer()
    case_id = ma.fields.Integer()
    measure = ma.fields.String(metadata={"enum": list(DECISIONS)})
    reason = ma.fields.String()
    decided_by_id = ma.fields.Integer()
    decided_by_name = ma.fields.String(attribute="decided_by.name")
    decided_at = ma.fields.AwareDateTime()
    corrects_id = ma.fields.Integer(
        allow_none=True, metadata={"description": "The decision this one corrects"}
    )
    corrected_by_id = ma.fields.Function(
        case_decisions.corrected_by_id,
        allow_none=True,
        metadata={"type": "integer", "description": "The decision that corrects this one"},
    )
    promotion_barred_until = ma.fields.Date(allow_none=True)
    notice = ma.fields.Function(
        lambda decision: NoticeSchema().dump(n) if (n := case_decisions.notice(decision)) else None,
        allow_none=True,
        metadata={
            "type": "object",
            "description": "What this decision did not change, e.g. a recall it corrects "
            "stays in effect on the posting (recall_stands)",
        },
    )


class CaseSummarySchema(ma.Schema):
    id = ma.fields.Integer()
    posting_id = ma.fields.Integer()
    cadre_id = ma.fields.Integer()
    cadre_name = ma.fields.String(attribute="cadre.name")
    village_code = ma.fields.String(attribute="posting.village.code")
    village_name = ma.fields.String(attribute="posting.village.name")
    unit_id = ma.fields.Integer(attribute="posting.unit_id")
    posting_status = ma.fields.String(attribute="posting.status")
    recommendation_id = ma.fields.Integer(allow_none=True)
    proposed_measure = ma.fields.String(metadata={"enum": list(MEASURES)})
    summary = ma.fields.String()
    decision_level = ma.fields.String(metadata={"description": "Who must decide, at least"})
    answer_deadline = ma.fields.Date(metadata={"description": "Answers after it are marked late"})
    status = ma.fields.String(metadata={"enum": list(CASE_STATUSES)})
    opened_by_id = ma.fields.Integer()
    opened_at = ma.fields.AwareDateTime()
    decision = ma.fields.Function(
        lambda case: case.decisions[-1].measure if case.decisions else None,
        allow_none=True,
        metadata={"type": "string", "description": "The measure in force (latest decision)"},
    )


class CaseSchema(CaseSummarySchema):
    evidence = ma.fields.List(
        ma.fields.Dict(), metadata={"description": "The rows behind it: [{type, id, ...}]"}
    )
    answers = ma.fields.List(ma.fields.Nested(AnswerSchema))
    decisions = ma.fields.List(ma.fields.Nested(DecisionSchema))
    replacement = ma.fields.Method(
        "_replacement",
        allow_none=True,
        metadata={
            "type": "object",
            "description": "What the recall left owed, if any (for the departments that "
            "see replacement obligations; null for the cadre)",
        },
    )

    def _replacement(self, case):
        from server.auth import can_see, current_user

        obligation = case_decisions.obligation_of(case)
        viewer = current_user()
        if obligation is None or viewer is None or not can_see(viewer, obligation):
            return None
        return ReplacementSchema().dump(obligation)
