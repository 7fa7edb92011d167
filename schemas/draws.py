"""Draw payloads: what a reviewer asks for, and what everyone may later check."""

from decimal import Decimal, InvalidOperation

import marshmallow as ma
from marshmallow import validate

from schemas.common import DivisionCode, instant
from server.models.draws import DRAW_KINDS, DRAW_MODES, DRAW_STATUSES


class Ratio(ma.fields.String):
    """A rate like "0.03", kept as a decimal string: frames never hold floats."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(str(value), attr, data, **kwargs)
        try:
            number = Decimal(text)
        except InvalidOperation as exc:
            raise ma.ValidationError("Not a decimal number.") from exc
        if not number.is_finite() or not Decimal(0) < number <= Decimal(1):
            raise ma.ValidationError("Must be more than 0 and at most 1.")
        return format(number.normalize(), "f")


class RecusalSchema(ma.Schema):
    same_unit = ma.fields.Boolean(load_default=True)
    home_region = ma.fields.Boolean(load_default=True)
    recent_villages = ma.fields.Boolean(load_default=True)
    recent_draws = ma.fields.Integer(
        load_default=3,
        validate=validate.Range(0, 50),
        metadata={"description": "How many of the inspector's last draws count as recent"},
    )
    related = ma.fields.Boolean(load_default=True)


class DrawCreateSchema(ma.Schema):
    scope_code = DivisionCode(required=True, metadata={"description": "Region to draw in"})
    kind = ma.fields.String(load_default="visit", validate=validate.OneOf(DRAW_KINDS))
    mode = ma.fields.String(load_default="commit-reveal", validate=validate.OneOf(DRAW_MODES))
    count = ma.fields.Integer(validate=validate.Range(1, 100_000))
    ratio = Ratio(metadata={"description": 'Share of postings to draw, e.g. "0.03"'})
    key_ratio = Ratio(
        metadata={
            "description": "Higher rate for the key stratum: postings with open "
            "high-severity flags, an absence found by inspection, or many leave days"
        }
    )
    key_leave_days = ma.fields.Integer(
        validate=validate.Range(1, 365),
        metadata={
            "description": "Approved leave days in the last 365 that make a posting key; "
            "default: half the annual leave cap of the policy in force at the scope"
        },
    )
    team_size = ma.fields.Integer(validate=validate.Range(0, 10))
    load_cap = ma.fields.Integer(load_default=3, validate=validate.Range(1, 100))
    answer_minutes = ma.fields.Integer(
        load_default=30,
        validate=validate.Range(5, 24 * 60),
        metadata={"description": "Roll-calls: minutes a cadre has to answer"},
    )
    window_start = instant(required=True)
    window_end = instant(required=True)
    recusal = ma.fields.Nested(RecusalSchema, load_default=lambda: RecusalSchema().load({}))
    beacon_spec = ma.fields.Dict(
        required=True,
        metadata={
            "description": "The future public value the draw will use, named before it is "
            'known, e.g. {"source": "福彩双色球", "issue": "2026138"}'
        },
    )

    @ma.validates_schema
    def one_size(self, data, **kwargs):
        if (data.get("count") is None) == (data.get("ratio") is None):
            raise ma.ValidationError("Give exactly one of count and ratio.", "count")
        kind = data.get("kind", "visit")
        team = data.get("team_size", 2 if kind == "visit" else 0)
        if kind == "visit" and team < 2:
            raise ma.ValidationError("Visits need at least 2 inspectors.", "team_size")
        if kind == "rollcall" and team != 0:
            raise ma.ValidationError("Roll-calls send no inspectors.", "team_size")
        data["team_size"] = team


class DrawExecuteSchema(ma.Schema):
    beacon_value = ma.fields.String(
        validate=validate.Length(1, 500),
        metadata={"description": "The announced public value (commit-reveal draws)"},
    )
    sources = ma.fields.List(
        ma.fields.List(
            ma.fields.Integer(validate=validate.Range(0, 10**12)), validate=validate.Length(1, 50)
        ),
        validate=validate.Length(1, 20),
        metadata={"description": "RFC 3797 draws: the announced public numbers, by source"},
    )


class DrawSchema(ma.Schema):
    id = ma.fields.Integer()
    scope_code = ma.fields.String()
    kind = ma.fields.String()
    mode = ma.fields.String()
    status = ma.fields.String(metadata={"enum": list(DRAW_STATUSES)})
    window_start = ma.fields.AwareDateTime()
    window_end = ma.fields.AwareDateTime()
    parameters = ma.fields.Dict()
    frame_hash = ma.fields.String()
    commitment = ma.fields.String(allow_none=True)
    beacon_spec = ma.fields.Dict()
    beacon_value = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    executed_at = ma.fields.AwareDateTime(allow_none=True)
    revealed_at = ma.fields.AwareDateTime(allow_none=True)
    picked = ma.fields.Method("_picked", allow_none=True, metadata={"type": "integer"})
    distribution = ma.fields.Method("_distribution", allow_none=True, metadata={"type": "array"})

    def _picked(self, draw):
        return len(draw.result["targets"]) if draw.result else None

    def _distribution(self, draw):
        return draw.result.get("distribution") if draw.result else None


class DrawQuerySchema(ma.Schema):
    status = ma.fields.String(validate=validate.OneOf(DRAW_STATUSES))


class ProofSchema(ma.Schema):
    """The proof file for `python -m server.tools.verify_draw proof.json`."""

    draw_id = ma.fields.String()
    mode = ma.fields.String()
    frame = ma.fields.Dict()
    frame_hash = ma.fields.String()
    commitment = ma.fields.String(allow_none=True)
    secret = ma.fields.String(allow_none=True)
    beacon_spec = ma.fields.Dict()
    beacon_value = ma.fields.String(allow_none=True)
    rfc3797_sources = ma.fields.List(ma.fields.List(ma.fields.Integer()), allow_none=True)
    result = ma.fields.Dict()
    identities = ma.fields.Dict(
        metadata={"description": "Inside the jurisdiction only: who each pseudonym is"}
    )


class ChallengeSchema(ma.Schema):
    id = ma.fields.Integer()
    issue_at = ma.fields.AwareDateTime()
    deadline = ma.fields.AwareDateTime()
    status = ma.fields.String(
        metadata={"enum": ["scheduled", "open", "answered", "late", "unanswered"]}
    )
    answered_checkin_id = ma.fields.Integer(allow_none=True)
    answered_at = ma.fields.AwareDateTime(allow_none=True)


class AssignmentSchema(ma.Schema):
    id = ma.fields.Integer()
    draw_id = ma.fields.Integer()
    kind = ma.fields.String(attribute="draw.kind")
    rank = ma.fields.Integer()
    stratum = ma.fields.String()
    posting_id = ma.fields.Integer()
    cadre_name = ma.fields.String(attribute="posting.cadre.name")
    village_code = ma.fields.String(attribute="village.code")
    village_name = ma.fields.String(attribute="village.name")
    latitude = ma.fields.Float(attribute="village.latitude", allow_none=True)
    longitude = ma.fields.Float(attribute="village.longitude", allow_none=True)
    window_start = ma.fields.AwareDateTime(attribute="draw.window_start")
    window_end = ma.fields.AwareDateTime(attribute="draw.window_end")
    inspector_ids = ma.fields.List(ma.fields.Integer())
    infeasible = ma.fields.Dict(allow_none=True)
    challenge = ma.fields.Nested(
        ChallengeSchema,
        allow_none=True,
        metadata={"description": "Roll-call draws: the challenge and its outcome"},
    )
