"""Policies: a version's partial rules, section by section as in DEFAULT_POLICY, and
the policy in force with where each part of it came from."""

import re

import marshmallow as ma
from marshmallow import validate

from schemas.common import DivisionCode, day
from server.models.cases import MEASURES
from server.models.leaves import APPROVER_LEVELS

HH_MM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]\Z")


class WholeNumber(ma.fields.Integer):
    """A JSON integer: 20, not 20.5, "20" or true (a stored rule must not change type)."""

    def __init__(self, low, high, **kwargs):
        super().__init__(strict=True, validate=validate.Range(low, high), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise ma.ValidationError("Must be a whole number.")
        return super()._deserialize(value, attr, data, **kwargs)


class Amount(ma.fields.Float):
    """A positive JSON number up to `high`."""

    def __init__(self, high, **kwargs):
        super().__init__(
            allow_nan=False,
            validate=validate.Range(0, high, min_inclusive=False),
            **kwargs,
        )

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ma.ValidationError("Must be a number.")
        return super()._deserialize(value, attr, data, **kwargs)


class Switch(ma.fields.Boolean):
    """JSON true or false only (not 1, "yes" or "on")."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ma.ValidationError("Must be true or false.")
        return value


def clock(**kwargs):
    return ma.fields.String(
        validate=validate.Regexp(HH_MM, error="Must be HH:MM (00:00 to 23:59)."), **kwargs
    )


class Section(ma.Schema):
    """Every setting optional, but a section that changes nothing is a mistake."""

    @ma.validates_schema
    def changes_something(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Change at least one setting, or leave the section out.")


class AttendanceRulesSchema(Section):
    min_days_per_month = WholeNumber(0, 31)
    min_days_per_year = WholeNumber(0, 366, allow_none=True)
    counting_rule = ma.fields.String(validate=validate.OneOf(("presence", "overnight")))
    evening_from = clock()
    morning_until = clock()
    holidays_excused = Switch()
    duty_trips_count_as_present = Switch()


class PhotoRequiredSchema(Section):
    presence = Switch()
    household_visit = Switch()
    departure = Switch()
    inspection_arrival = Switch()


class CheckinRulesSchema(Section):
    duty = ma.fields.String(validate=validate.OneOf(("none", "weekly", "daily")))
    photo_required = ma.fields.Nested(PhotoRequiredSchema)


class HouseholdVisitRulesSchema(Section):
    per_household_per_month = WholeNumber(1, 31)


class ApprovalBandSchema(ma.Schema):
    max_days = WholeNumber(1, 366, required=True, allow_none=True)
    level = ma.fields.String(required=True, validate=validate.OneOf(APPROVER_LEVELS))


def check_bands(bands):
    """Bands from short to long, each approved higher up, the last one open-ended."""
    if not bands:
        return  # the length validator answers that
    if bands[-1]["max_days"] is not None:
        raise ma.ValidationError("The last band must have max_days null (all longer leave).")
    limits = [band["max_days"] for band in bands[:-1]]
    if None in limits:
        raise ma.ValidationError("Only the last band may have max_days null.")
    if any(later <= earlier for earlier, later in zip(limits, limits[1:], strict=False)):
        raise ma.ValidationError("max_days must increase from band to band.")
    ranks = [APPROVER_LEVELS.index(band["level"]) for band in bands]
    if any(later <= earlier for earlier, later in zip(ranks, ranks[1:], strict=False)):
        raise ma.ValidationError(
            f"Levels must go upward band by band ({', '.join(APPROVER_LEVELS)})."
        )


class LeaveRulesSchema(Section):
    approval_levels = ma.fields.List(
        ma.fields.Nested(ApprovalBandSchema),
        validate=[validate.Length(1, len(APPROVER_LEVELS)), check_bands],
    )
    annual_cap_days = WholeNumber(0, 366)


class ThresholdRulesSchema(Section):
    accuracy_allowance_cap_m = Amount(10_000)
    poor_accuracy_m = Amount(10_000)
    household_radius_m = Amount(10_000)
    exif_gps_mismatch_m = Amount(100_000)
    photo_time_mismatch_min = Amount(7 * 24 * 60)
    # Bits of a 64-bit perceptual hash.
    phash_max_distance = WholeNumber(1, 64)
    impossible_travel_kmh = Amount(2_000)
    future_tolerance_s = Amount(24 * 3600)
    max_sync_delay_h = Amount(366 * 24)
    # The only window the inspection cross-check implements.
    contradiction_window = ma.fields.String(validate=validate.OneOf(("same_day",)))


class RuleSchema(Section):
    enabled = Switch()
    measure = ma.fields.String(validate=validate.OneOf(MEASURES))


class RepeatedRuleSchema(RuleSchema):
    months = WholeNumber(1, 12)


class ConsequenceRulesSchema(Section):
    month_below_minimum = ma.fields.Nested(RuleSchema)
    consecutive_months_below = ma.fields.Nested(RepeatedRuleSchema)
    absence_found = ma.fields.Nested(RuleSchema)
    false_checkin = ma.fields.Nested(RuleSchema)
    annual_leave_over_cap = ma.fields.Nested(RuleSchema)
    sustained_service = ma.fields.Nested(RepeatedRuleSchema)


def level():
    return ma.fields.String(validate=validate.OneOf(APPROVER_LEVELS))


class DecisionLevelsSchema(Section):
    commendation = level()
    reminder = level()
    talk = level()
    circulated_criticism = level()
    admonition = level()
    recall = level()


class GradesSchema(Section):
    basically_competent_from = WholeNumber(1, 100)
    incompetent_from = WholeNumber(1, 100)


class ConsequencesSchema(Section):
    rules = ma.fields.Nested(ConsequenceRulesSchema)
    answer_days = WholeNumber(1, 90)
    decision_levels = ma.fields.Nested(DecisionLevelsSchema)
    promotion_bar_years = WholeNumber(0, 10)
    replacement_days = WholeNumber(1, 365)
    deduction_per_absence = Amount(100)
    grades = ma.fields.Nested(GradesSchema)


class PolicyRulesSchema(Section):
    """The settings a version changes; everything else is inherited."""

    attendance = ma.fields.Nested(AttendanceRulesSchema)
    checkin = ma.fields.Nested(CheckinRulesSchema)
    household_visits = ma.fields.Nested(HouseholdVisitRulesSchema)
    leave = ma.fields.Nested(LeaveRulesSchema)
    thresholds = ma.fields.Nested(ThresholdRulesSchema)
    consequences = ma.fields.Nested(ConsequencesSchema)


class PolicyCreateSchema(ma.Schema):
    region_code = DivisionCode(required=True)
    effective_from = day(required=True, metadata={"description": "First day it applies"})
    rules = ma.fields.Nested(
        PolicyRulesSchema,
        required=True,
        metadata={
            "description": "The settings this region changes from what it inherits. It "
            "replaces the region's earlier version from its effective date on, so restate "
            "every setting the region still changes. The settings that say who decides "
            "(`consequences.decision_levels`, `consequences.rules`, "
            "`leave.approval_levels`) may be set only by an admin or by a department "
            "strictly above the region (403 `authority_setting_reserved`), so no level "
            "can widen its own powers."
        },
    )
    reason = ma.fields.String(required=True, validate=validate.Length(1, 2000))


class PolicySchema(ma.Schema):
    id = ma.fields.Integer()
    region_code = ma.fields.String(attribute="region.code")
    region_name = ma.fields.String(attribute="region.name")
    version = ma.fields.Integer()
    effective_from = ma.fields.Date()
    rules = ma.fields.Dict()
    reason = ma.fields.String(allow_none=True)
    created_by_id = ma.fields.Integer()
    created_at = ma.fields.AwareDateTime()


class PolicyQuerySchema(ma.Schema):
    region_code = DivisionCode()
    include_ancestors = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "Also the versions of every region above it"},
    )


class InForceQuerySchema(ma.Schema):
    region_code = DivisionCode(required=True)
    on_date = day(required=True, data_key="date")


class PolicySourceSchema(ma.Schema):
    policy_id = ma.fields.Integer()
    region_code = ma.fields.String()
    region_name = ma.fields.String()
    level = ma.fields.String()
    version = ma.fields.Integer()
    effective_from = ma.fields.Date()
    rules = ma.fields.Dict(metadata={"description": "What this version changes"})


class InForceSchema(ma.Schema):
    region_code = ma.fields.String()
    on_date = ma.fields.Date(data_key="date")
    policy = ma.fields.Dict(metadata={"description": "The whole merged policy"})
    sources = ma.fields.List(
        ma.fields.Nested(PolicySourceSchema),
        metadata={"description": "The versions merged over the defaults, province first"},
    )
