"""The monthly ledger, a posting's month day by day, and closed months."""

import hashlib

import marshmallow as ma
from marshmallow import validate

from schemas.common import DivisionCode, Id
from server.services.ledger import STATUSES

MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])\Z"
DAY_CODES = (
    "One character per day of the month: P present, N present but not counted (the "
    "overnight rule's evening or next morning missing), T declared duty trip, L leave, "
    "R excused rest day, F awaiting review, A absent, U unknown or not over yet, "
    "- not posted"
)


def month_field(**kwargs):
    return ma.fields.String(
        validate=validate.Regexp(MONTH, error="A month is written YYYY-MM."),
        metadata={"example": "2026-03"},
        **kwargs,
    )


class LedgerQuerySchema(ma.Schema):
    month = month_field(required=True)
    region = DivisionCode(metadata={"description": "Only this region's subtree"})
    unit = Id(metadata={"description": "Only cadres of this dispatching unit"})
    status = ma.fields.String(validate=validate.OneOf(STATUSES))


class ExportQuerySchema(LedgerQuerySchema):
    format = ma.fields.String(load_default="xlsx", validate=validate.OneOf(("xlsx", "csv")))


class SummaryQuerySchema(LedgerQuerySchema):
    by = ma.fields.String(load_default="county", validate=validate.OneOf(("county", "unit")))


class LedgerRowSchema(ma.Schema):
    posting_id = ma.fields.Integer()
    cadre_id = ma.fields.Integer()
    cadre_name = ma.fields.String()
    role = ma.fields.String()
    standard = ma.fields.String(
        metadata={"description": "`days` (resident cadres) or `household_visits` (paired aid)"}
    )
    unit_id = ma.fields.Integer()
    unit_name = ma.fields.String()
    village_id = ma.fields.Integer()
    village_code = ma.fields.String()
    village_name = ma.fields.String()
    township_name = ma.fields.String(allow_none=True)
    county_code = ma.fields.String()
    county_name = ma.fields.String(allow_none=True)
    days_in_month = ma.fields.Integer()
    days_posted = ma.fields.Integer()
    required_days = ma.fields.Integer(
        metadata={"description": "The policy's monthly minimum, prorated to the days posted"}
    )
    days_present = ma.fields.Integer(metadata={"description": "Days with presence that counts"})
    days_not_counted = ma.fields.Integer(
        metadata={"description": "Present, but the overnight rule was not met"}
    )
    days_duty_trip = ma.fields.Integer()
    days_leave = ma.fields.Integer()
    days_rest = ma.fields.Integer(metadata={"description": "Excused non-working days"})
    days_excused = ma.fields.Integer(metadata={"description": "Duty trip + leave + rest days"})
    days_pending = ma.fields.Integer(metadata={"description": "Days awaiting a flag review"})
    days_unknown = ma.fields.Integer(
        metadata={"description": "Pending, not over yet, or silent without a daily duty"}
    )
    days_absent = ma.fields.Integer()
    days_counted = ma.fields.Integer(
        metadata={"description": "Present plus duty trips where the policy counts them"}
    )
    day_codes = ma.fields.String(metadata={"description": DAY_CODES})
    pending_flags = ma.fields.Integer()
    findings_total = ma.fields.Integer(metadata={"description": "Final inspection findings"})
    findings_absent = ma.fields.Integer()
    households_paired = ma.fields.Integer()
    households_visited = ma.fields.Integer(
        metadata={"description": "Paired households visited as often as the policy asks"}
    )
    leave_days_year = ma.fields.Integer()
    annual_leave_cap = ma.fields.Integer()
    over_annual_leave_cap = ma.fields.Boolean()
    minimum_met = ma.fields.Boolean(allow_none=True)
    status = ma.fields.String(metadata={"description": "met, not_met, open or undetermined"})
    closed = ma.fields.Boolean(metadata={"description": "Served from a closed month's snapshot"})
    closure_id = ma.fields.Integer(allow_none=True)
    checkins_by_day = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.Integer()),
        metadata={"description": "The presence check-ins behind each day present"},
    )


class SummarySchema(ma.Schema):
    key = ma.fields.Raw(metadata={"description": "County code or unit id"})
    name = ma.fields.String(allow_none=True)
    postings = ma.fields.Integer()
    met = ma.fields.Integer()
    not_met = ma.fields.Integer()
    open = ma.fields.Integer()
    undetermined = ma.fields.Integer()
    days_absent = ma.fields.Integer()
    findings_absent = ma.fields.Integer()
    pending_flags = ma.fields.Integer()
    compliance = ma.fields.Float(allow_none=True, metadata={"description": "met / (met + not_met)"})


class DayCheckinSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    local_time = ma.fields.Time()
    verdict = ma.fields.String()
    standing = ma.fields.String()
    # null once retention has purged the position (purged_at)
    latitude = ma.fields.Float(allow_none=True)
    longitude = ma.fields.Float(allow_none=True)
    accuracy_m = ma.fields.Float(allow_none=True)
    distance_m = ma.fields.Float(allow_none=True)
    purged_at = ma.fields.AwareDateTime(
        allow_none=True,
        metadata={"description": "When retention removed the position and photos (else null)"},
    )
    photo_ids = ma.fields.Function(lambda c: [p.id for p in c.photos])
    flags = ma.fields.Function(
        lambda c: [{"code": f.code, "severity": f.severity, "status": f.status} for f in c.flags]
    )


class LedgerDaySchema(ma.Schema):
    day = ma.fields.Date()
    code = ma.fields.String()
    working = ma.fields.Boolean()
    kind = ma.fields.String(metadata={"description": "workday, weekend, holiday, makeup_workday"})
    checkins = ma.fields.List(ma.fields.Nested(DayCheckinSchema))
    leave_ids = ma.fields.List(ma.fields.Integer())
    finding_ids = ma.fields.List(ma.fields.Integer())


class PostingMonthSchema(ma.Schema):
    row = ma.fields.Nested(LedgerRowSchema)
    days = ma.fields.List(ma.fields.Nested(LedgerDaySchema))


class ClosureCreateSchema(ma.Schema):
    region_code = DivisionCode(required=True)
    month = month_field(required=True)


class ClosureReopenSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=validate.Length(1, 2000))


class ClosureQuerySchema(ma.Schema):
    region_code = DivisionCode()
    month = month_field()
    status = ma.fields.String(validate=validate.OneOf(("closed", "reopened")))


class ClosureSchema(ma.Schema):
    id = ma.fields.Integer()
    region_code = ma.fields.Function(lambda c: c.region.code)
    region_name = ma.fields.Function(lambda c: c.region.name)
    month = ma.fields.String()
    version = ma.fields.Integer()
    status = ma.fields.String()
    snapshot_hash = ma.fields.String(metadata={"description": "SHA-256 of the snapshot"})
    row_count = ma.fields.Integer()
    closed_by_id = ma.fields.Integer()
    closed_at = ma.fields.DateTime()
    reopened_by_id = ma.fields.Integer(allow_none=True)
    reopened_at = ma.fields.DateTime(allow_none=True)
    reopen_reason = ma.fields.String(allow_none=True)


class ClosureDetailSchema(ClosureSchema):
    snapshot = ma.fields.String(
        metadata={"description": "The frozen ledger: canonical JSON, byte for byte as hashed"}
    )
    snapshot_intact = ma.fields.Function(
        lambda closure: (
            hashlib.sha256(closure.snapshot.encode()).hexdigest() == closure.snapshot_hash
        ),
        metadata={"type": "boolean", "description": "The snapshot still hashes to snapshot_hash"},
    )
