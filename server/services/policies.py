"""The rules in force for a place and a day.

Every number in DOMAIN.md is a per-jurisdiction default, never a constant in code. Until
policies are stored and versioned per jurisdiction (the attendance issue), every
jurisdiction gets these defaults; callers already ask for the policy of a region on a
date, so stored policies will slot in here without changing them.
"""

from copy import deepcopy

DEFAULT_CHECKIN_POLICY = {
    # Geofence: radius of the village post (on the region) plus the reported accuracy,
    # allowed up to this cap, so a poor fix cannot stretch the fence indefinitely.
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
    "photo_required": {
        "presence": True,
        "household_visit": False,
        "departure": False,
        "inspection_arrival": True,
    },
    # An inspection's "absent" contradicts presence claimed on the same local day.
    "contradiction_window": "same_day",
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


def checkin_policy(region, on_date):
    """The check-in policy in force in `region` on `on_date` (a fresh dict)."""
    return deepcopy(DEFAULT_CHECKIN_POLICY)
