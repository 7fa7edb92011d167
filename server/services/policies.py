"""The rules in force for a place and a day.

Every number in DOMAIN.md is a per-jurisdiction default, never a constant in code. A
jurisdiction stores only what it changes (a `Policy` version); the policy in force in a
village on a day is the defaults overlaid, from the province down to the village, with
each level's latest version effective on that day. Sections merge key by key, so a
county that changes `attendance.min_days_per_month` keeps the city's other settings.
"""

from copy import deepcopy

from sqlalchemy import select

from server.extensions import db
from server.models.policies import Policy
from server.models.regions import LEVEL_DIGITS, LEVELS, Region

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


def policy_for(region, on_date):
    """The whole policy in force in `region` on `on_date` (a fresh dict)."""
    codes = ancestor_codes(region.code)
    latest = versions_in_force(codes, on_date)
    policy = DEFAULT_POLICY
    for code in codes:
        if code in latest:
            policy = merge(policy, latest[code].rules)
    return deepcopy(policy)


def checkin_policy(region, on_date):
    """What verification and submission need: the thresholds and the photo duty."""
    policy = policy_for(region, on_date)
    return {**policy["thresholds"], "photo_required": policy["checkin"]["photo_required"]}
