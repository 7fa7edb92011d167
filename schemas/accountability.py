"""Dispatching-unit accountability: figures per month and in total, and the ranking."""

import marshmallow as ma
from marshmallow import validate

from schemas.attendance import MONTH
from schemas.common import DivisionCode


def month(description, **kwargs):
    return ma.fields.String(
        validate=validate.Regexp(MONTH, error="A month is written YYYY-MM."),
        metadata={"example": "2026-03", "description": description},
        **kwargs,
    )


class AccountabilityQuerySchema(ma.Schema):
    from_month = month("First month (default: January of `to`)", data_key="from")
    to_month = month("Last month (default: the current one)", data_key="to")


class UnitRankingQuerySchema(AccountabilityQuerySchema):
    region_code = DivisionCode(metadata={"description": "Default: your jurisdiction"})


class AccountabilityCountsSchema(ma.Schema):
    met = ma.fields.Integer()
    not_met = ma.fields.Integer()
    open = ma.fields.Integer()
    undetermined = ma.fields.Integer()
    compliance = ma.fields.Float(allow_none=True, metadata={"description": "met / (met + not_met)"})
    absences_found = ma.fields.Integer(
        metadata={"description": "Final inspection findings `absent` (amended ones excluded)"}
    )
    recalls = ma.fields.Integer(metadata={"description": "Recall decisions in force"})
    deduction = ma.fields.Float(
        metadata={"description": "Absences found x the policy's deduction_per_absence"}
    )
    replacements_open = ma.fields.Integer(
        metadata={"description": "Replacements owed and not yet sent at the end"}
    )
    replacements_overdue = ma.fields.Integer(metadata={"description": "Of those, past deadline"})


class AccountabilityMonthSchema(AccountabilityCountsSchema):
    month = ma.fields.String()
    postings = ma.fields.Integer(metadata={"description": "The unit's postings serving"})
    closed_postings = ma.fields.Integer(
        metadata={"description": "Of those, judged from a closed month's frozen snapshot"}
    )
    source = ma.fields.String(
        allow_none=True,
        metadata={
            "enum": ["closed", "live", "mixed"],
            "description": "Where the judgement came from",
        },
    )


class OwedReplacementSchema(ma.Schema):
    id = ma.fields.Integer()
    recalled_posting_id = ma.fields.Integer()
    deadline = ma.fields.Date()
    overdue = ma.fields.Boolean()


class AccountabilityTotalSchema(AccountabilityCountsSchema):
    postings = ma.fields.Integer(metadata={"description": "Distinct postings"})
    posting_months = ma.fields.Integer()
    closed_posting_months = ma.fields.Integer()
    replacements = ma.fields.List(
        ma.fields.Nested(OwedReplacementSchema),
        metadata={"description": "Replacements open at the period's end"},
    )


class AccountableUnitSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    level = ma.fields.String()
    region_code = ma.fields.String()


class UnitAccountabilitySchema(ma.Schema):
    unit = ma.fields.Nested(AccountableUnitSchema)
    from_month = ma.fields.String(data_key="from", attribute="from")
    to_month = ma.fields.String(data_key="to", attribute="to")
    whole_unit = ma.fields.Boolean(
        metadata={
            "description": "True: every cadre of the unit; false: only those serving in "
            "your jurisdiction"
        }
    )
    months = ma.fields.List(ma.fields.Nested(AccountabilityMonthSchema))
    total = ma.fields.Nested(AccountabilityTotalSchema)


class RankedUnitSchema(AccountabilityTotalSchema):
    rank = ma.fields.Integer(metadata={"description": "1 is best; equal figures share a rank"})
    unit = ma.fields.Nested(AccountableUnitSchema)


class UnitRankingSchema(ma.Schema):
    region_code = ma.fields.String(allow_none=True)
    from_month = ma.fields.String(data_key="from", attribute="from")
    to_month = ma.fields.String(data_key="to", attribute="to")
    units = ma.fields.List(
        ma.fields.Nested(RankedUnitSchema),
        metadata={"description": "Smallest deduction first, then highest compliance"},
    )
