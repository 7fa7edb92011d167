"""Recommendations: what a rule proposed from evidence, and setting one aside."""

import marshmallow as ma
from marshmallow import validate

from schemas.common import DivisionCode, Id
from server.models.cases import MEASURES
from server.services import recommendations

RULES = (
    "month_below_minimum",
    "consecutive_months_below",
    "absence_found",
    "false_checkin",
    "annual_leave_over_cap",
    "sustained_service",
)
STATUSES = ("open", "case_opened", "set_aside")
EVIDENCE = (
    "The exact rows behind it, each {type, id, ...}: month_closure (with its "
    "snapshot_hash), ledger_month (the posting's frozen row), finding, assignment, "
    "checkin, photo (with its sha256), flag, leave"
)


class SetAsideRecordSchema(ma.Schema):
    by_id = ma.fields.Integer(allow_none=True)
    at = ma.fields.AwareDateTime()
    reason = ma.fields.String()


class RecommendationSchema(ma.Schema):
    id = ma.fields.Integer()
    posting_id = ma.fields.Integer()
    cadre_id = ma.fields.Integer(attribute="posting.cadre_id")
    cadre_name = ma.fields.String(attribute="posting.cadre.name")
    village_code = ma.fields.String(attribute="posting.village.code")
    village_name = ma.fields.String(attribute="posting.village.name")
    unit_id = ma.fields.Integer(attribute="posting.unit_id")
    rule = ma.fields.String(metadata={"enum": list(RULES)})
    measure = ma.fields.String(metadata={"enum": list(MEASURES)})
    period = ma.fields.String(
        metadata={"description": "A month (YYYY-MM), a year (YYYY), or finding:<id>"}
    )
    rule_version = ma.fields.String(
        metadata={"description": "SHA-256 of the canonical JSON of rule_settings"}
    )
    rule_settings = ma.fields.Dict(
        metadata={
            "description": "The rule's settings as used, and policy_ids: the policy "
            "versions in force (province first)"
        }
    )
    evidence = ma.fields.List(ma.fields.Dict(), metadata={"description": EVIDENCE})
    summary = ma.fields.String()
    status = ma.fields.String(metadata={"enum": list(STATUSES)})
    created_at = ma.fields.AwareDateTime()
    set_aside = ma.fields.Method(
        "_set_aside",
        metadata={"type": "object", "description": "Who set it aside, when and why"},
        allow_none=True,
    )

    def _set_aside(self, recommendation):
        record = recommendations.set_aside_record(recommendation)
        return None if record is None else SetAsideRecordSchema().dump(record)


class RecommendationQuerySchema(ma.Schema):
    status = ma.fields.String(validate=validate.OneOf(STATUSES))
    rule = ma.fields.String(validate=validate.OneOf(RULES))
    posting_id = Id()
    region_code = DivisionCode(metadata={"description": "Villages in this subtree"})


class SetAsideSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=validate.Length(1, 2000))
