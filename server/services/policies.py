"""The rules in force for a place and a day.

Every number in DOMAIN.md is a per-jurisdiction default, never a constant in code. A
jurisdiction stores only what it changes (a `Policy` version); the policy in force in a
village on a day is the defaults overlaid, from the province down to the village, with
each level's latest version effective on that day. Sections merge key by key, so a
county that changes `attendance.min_days_per_month` keeps the city's other settings.
"""

from copy import deepcopy

from sqlalchemy import func, select

from server import auth
from server.errors import Forbidden
from server.extensions import db
from server.models.policies import Policy
from server.models.regions import LEVEL_DIGITS, LEVELS, Region
from server.services import audit
from server.services.lookups import region_by_code

DEFAULT_POLICY = {
    "attendance": {
        "min_days_per_month": 20,
        # Optional yearly minimum (some places count 200 days a year).
        "min_days_per_year": None,
        # `presence`: a day counts with one accepted presence check-in in the village.
        # `overnight`: it also needs the evening and the next morning (五天四夜).
        "counting_rule": "presence",
        "evening_from": "18:00",
        "morning_until": "10:00",
        # Non-working days (weekends, holidays) without presence are excused, not absent.
        "holidays_excused": True,
        # Declared duty trips (报备: meetings, training) count as days present.
        "duty_trips_count_as_present": True,
    },
    "checkin": {
        # `daily`: a working day without evidence or excuse is absent. `weekly`/`none`:
        # it is unknown; no check-in duty means no absence can be read from silence.
        "duty": "daily",
        "photo_required": {
            "presence": True,
            "household_visit": False,
            "departure": False,
            "inspection_arrival": True,
        },
    },
    "household_visits": {"per_household_per_month": 1},
    "leave": {
        # The shortest matching band decides who approves; `max_days: null` is the rest.
        "approval_levels": [
            {"max_days": 3, "level": "township"},
            {"max_days": None, "level": "county"},
        ],
        "annual_cap_days": 30,
    },
    "thresholds": {
        # Geofence: radius of the village post (on the region) plus the reported
        # accuracy, allowed up to this cap, so a poor fix cannot stretch the fence.
        "accuracy_allowance_cap_m": 200,
        "poor_accuracy_m": 200,
        "household_radius_m": 300,
        "exif_gps_mismatch_m": 500,
        "photo_time_mismatch_min": 15,
        "phash_max_distance": 8,
        "impossible_travel_kmh": 150,
        # Device clocks drift; a device time this far ahead of the server is tolerated.
        "future_tolerance_s": 120,
        "max_sync_delay_h": 72,
        # An inspection's "absent" contradicts presence claimed on the same local day.
        "contradiction_window": "same_day",
    },
    "consequences": {
        # Evidence makes recommendations, never decisions (DOMAIN.md, consequences).
        "rules": {
            "month_below_minimum": {"enabled": True, "measure": "reminder"},
            "consecutive_months_below": {"enabled": True, "months": 2, "measure": "talk"},
            "absence_found": {"enabled": True, "measure": "circulated_criticism"},
            "false_checkin": {"enabled": True, "measure": "recall"},
            "annual_leave_over_cap": {"enabled": True, "measure": "recall"},
            "sustained_service": {"enabled": True, "months": 3, "measure": "commendation"},
        },
        # Days the cadre has to explain or appeal before a decision.
        "answer_days": 7,
        # Who decides each measure: the mildest the township, the rest the county.
        "decision_levels": {
            "commendation": "county",
            "reminder": "township",
            "talk": "county",
            "circulated_criticism": "county",
            "admonition": "county",
            "recall": "county",
        },
        # After a recall: years barred from promotion (0: none), and the days the
        # dispatching unit has to send a replacement.
        "promotion_bar_years": 2,
        "replacement_days": 30,
        # Points off the dispatching unit's score for each absence inspectors find.
        "deduction_per_absence": 0.1,
        # The annual grade suggested by unexcused absences found (published county
        # rules): any rules out the top grade, this many gives the third, this many the
        # lowest.
        "grades": {"basically_competent_from": 2, "incompetent_from": 3},
    },
}

SEVERITY = {
    "outside_geofence": "high",
    "no_reference_position": "medium",
    "poor_accuracy": "low",
    "mock_location": "high",
    "exif_gps_mismatch": "high",
    "photo_time_mismatch": "medium",
    "photo_reused": "high",
    "impossible_travel": "high",
    "clock_skew": "medium",
    "new_device": "medium",
    "repeated_position": "medium",
    "contradicted_by_inspection": "critical",
}


def ancestor_codes(code):
    """The codes of a region and of every region above it, province first."""
    codes = []
    for level in LEVELS:
        digits = LEVEL_DIGITS[level]
        candidate = code[:digits].ljust(12, "0")
        if candidate not in codes:
            codes.append(candidate)
        if candidate == code:
            break
    return codes


def merge(base, changes):
    """`base` overlaid with `changes`, dictionaries merged key by key (a fresh dict)."""
    merged = deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = deepcopy(value)
    return merged


def versions_in_force(codes, on_date):
    """For each region code that has one, its latest version effective on `on_date`."""
    rows = db.session.execute(
        select(Region.code, Policy)
        .join(Policy, Policy.region_id == Region.id)
        .where(Region.code.in_(codes), Policy.effective_from <= on_date)
        .order_by(Policy.effective_from, Policy.version)
    ).all()
    latest = {}
    for code, version in rows:
        latest[code] = version  # ordered, so the last one seen is in force
    return latest


def _in_force(region, on_date):
    """(the merged policy, the versions merged into it province first)."""
    codes = ancestor_codes(region.code)
    latest = versions_in_force(codes, on_date)
    sources = [latest[code] for code in codes if code in latest]
    policy = DEFAULT_POLICY
    for version in sources:
        policy = merge(policy, version.rules)
    return deepcopy(policy), sources


def policy_for(region, on_date):
    """The whole policy in force in `region` on `on_date` (a fresh dict)."""
    return _in_force(region, on_date)[0]


def checkin_policy(region, on_date):
    """What verification and submission need: the thresholds and the photo duty."""
    policy = policy_for(region, on_date)
    return {**policy["thresholds"], "photo_required": policy["checkin"]["photo_required"]}


def in_force(*, region_code, on_date):
    """The policy in force, and which versions from which regions made it so."""
    region = region_by_code(region_code, "region_code")
    policy, versions = _in_force(region, on_date)
    return {
        "region_code": region.code,
        "on_date": on_date,
        "policy": policy,
        "sources": [
            {
                "policy_id": version.id,
                "region_code": version.region.code,
                "region_name": version.region.name,
                "level": version.region.level,
                "version": version.version,
                "effective_from": version.effective_from,
                "rules": version.rules,
            }
            for version in versions
        ],
    }


def get(*, actor, policy_id):
    return auth.get_visible(Policy, policy_id, actor)


def list_(*, actor, region_code=None, include_ancestors=False):
    stmt = auth.scoped(select(Policy), Policy, actor).join(Policy.region)
    if region_code is not None:
        region = region_by_code(region_code, "region_code")
        codes = ancestor_codes(region.code) if include_ancestors else [region.code]
        stmt = stmt.where(Region.code.in_(codes))
    return stmt.order_by(Region.code, Policy.effective_from, Policy.version)


# Settings that say which level may decide or recommend against a cadre: the level they
# bind must not be able to rewrite them for itself.
AUTHORITY_SETTINGS = (
    ("consequences", "decision_levels"),
    ("consequences", "rules"),
    ("leave", "approval_levels"),
)


def _ensure_may_set_authority(actor, region, rules):
    """Only an admin, or a department strictly above the region, sets who decides there."""
    touched = [
        f"{section}.{key}" for section, key in AUTHORITY_SETTINGS if key in rules.get(section, {})
    ]
    if not touched or actor.has_role("admin"):
        return
    own = actor.jurisdiction
    if own is not None and LEVELS.index(own.level) < LEVELS.index(region.level):
        return
    raise Forbidden(
        "authority_setting_reserved",
        "Who decides in a region is set only from a level above it (or by an admin).",
        "决定权限只能由上级部门（或管理员）设定。",
        errors={"rules": touched},
    )


def create(*, actor, region_code, effective_from, rules, reason):
    """The region's next version. Never an edit: a correction is a later version with
    the same effective date, which wins over the one it corrects."""
    from server.services.closures import ensure_open  # closures imports this module

    region = region_by_code(region_code, "region_code")
    auth.ensure_manages(actor, region)
    _ensure_may_set_authority(actor, region, rules)
    ensure_open(region, effective_from)
    latest = db.session.execute(
        select(func.max(Policy.version)).where(Policy.region_id == region.id)
    ).scalar_one()
    policy = Policy(
        region=region,
        version=(latest or 0) + 1,
        effective_from=effective_from,
        rules=rules,
        reason=reason,
        created_by_id=actor.id,
    )
    db.session.add(policy)
    db.session.flush()
    audit.record(
        "policy.create",
        policy,
        actor=actor,
        summary={
            "region": region.code,
            "version": policy.version,
            "effective_from": effective_from.isoformat(),
            "rules": rules,
            "reason": reason,
        },
    )
    db.session.commit()
    return policy
