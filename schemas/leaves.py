"""Leave and duty-trip payloads: the request, the decision, the close-out, the answer."""

import marshmallow as ma
from marshmallow import validate

from schemas.common import DivisionCode, Id, day
from server.models.leaves import APPROVER_LEVELS, LEAVE_KINDS, LEAVE_STATUSES
from server.services import leave_days


def reason_field(**kwargs):
    return ma.fields.String(validate=validate.Length(1, 2000), **kwargs)


class LeaveCreateSchema(ma.Schema):
    kind = ma.fields.String(
        required=True,
        validate=validate.OneOf(LEAVE_KINDS),
        metadata={"description": "leave (请假), or duty_trip (报备: counts as present)"},
    )
    start_date = day(required=True)
    end_date = day(required=True, metadata={"description": "Last day away (inclusive)"})
    reason = reason_field(required=True)
    posting_id = Id(
        metadata={"description": "Default: your one active posting covering start_date"}
    )
    late_reason = reason_field(
        metadata={"description": "Required when start_date is before today (asked late)"}
    )

    @ma.validates_schema
    def dates_in_order(self, data, **kwargs):
        start, end = data.get("start_date"), data.get("end_date")
        if start and end and end < start:
            raise ma.ValidationError("Must not be before start_date.", "end_date")


class LeaveDecisionSchema(ma.Schema):
    decision = ma.fields.String(required=True, validate=validate.OneOf(("approved", "rejected")))
    reason = reason_field(required=True)


class LeaveCloseSchema(ma.Schema):
    returned_on = day(required=True, metadata={"description": "The first day back"})
    reason = reason_field(required=True)


class AnnualLeaveSchema(ma.Schema):
    year = ma.fields.Integer()
    approved_leave_days = ma.fields.Integer(
        metadata={"description": "Approved leave (not duty trips) of the cadre that year"}
    )
    annual_cap_days = ma.fields.Integer(allow_none=True)
    cap_exceeded = ma.fields.Boolean()


class LeaveSchema(ma.Schema):
    id = ma.fields.Integer()
    posting_id = ma.fields.Integer()
    cadre_id = ma.fields.Integer()
    cadre_name = ma.fields.String(attribute="cadre.name")
    village_code = ma.fields.String(attribute="posting.village.code")
    village_name = ma.fields.String(attribute="posting.village.name")
    kind = ma.fields.String()
    start_date = ma.fields.Date()
    end_date = ma.fields.Date()
    days = ma.fields.Integer(metadata={"description": "Calendar days asked for"})
    reason = ma.fields.String()
    status = ma.fields.String(metadata={"enum": list(LEAVE_STATUSES)})
    approver_level = ma.fields.String(
        metadata={"enum": list(APPROVER_LEVELS), "description": "Fixed when asked"}
    )
    late = ma.fields.Boolean(metadata={"description": "Asked for after it began"})
    late_reason = ma.fields.String(allow_none=True)
    requested_at = ma.fields.AwareDateTime()
    decided_by_id = ma.fields.Integer(allow_none=True)
    decided_at = ma.fields.AwareDateTime(allow_none=True)
    decision_reason = ma.fields.String(allow_none=True)
    returned_on = ma.fields.Date(
        allow_none=True, metadata={"description": "Closed (销假): the first day back"}
    )
    closed_at = ma.fields.AwareDateTime(allow_none=True)
    closed_by_checkin_id = ma.fields.Integer(allow_none=True)
    closed_by_id = ma.fields.Integer(allow_none=True)
    annual = ma.fields.Method(
        "_annual",
        metadata={
            "type": "object",
            "description": "The cadre's approved leave days in the year it begins, and the cap",
        },
    )

    def _annual(self, leave):
        return AnnualLeaveSchema().dump(leave_days.annual(leave))


class LeaveQuerySchema(ma.Schema):
    status = ma.fields.String(validate=validate.OneOf(LEAVE_STATUSES))
    kind = ma.fields.String(validate=validate.OneOf(LEAVE_KINDS))
    posting_id = Id()
    cadre_id = Id()
    region_code = DivisionCode(metadata={"description": "Villages in this subtree"})
    date_from = day(metadata={"description": "Leaves ending on or after this day"})
    date_to = day(metadata={"description": "Leaves beginning on or before this day"})
