"""A record's seal: the SHA-256 of the columns its creation fixes for good, written into
the record's audit event. The hash chain then vouches for those columns, so a row edited
behind the application's back (a check-in moved into the geofence, its time shifted)
no longer matches its seal, and an evidence bundle's verifier can tell
(server/tools/bundle_checks.py recomputes the seal from the record, with the standard
library alone: `CHECKIN_SEALED` and `json_value` are repeated there, and a test holds
the two copies together).

Only columns no legitimate later change touches are sealed: a check-in's verdict and
review change with review, its distance with the village's post. Its position has a
seal of its own, because retention removes it (a purged record's other columns can
still be checked, and it must show no position at all).
"""

import hashlib
from datetime import UTC, date, datetime, time

from server.services.audit import canonical_json

CHECKIN_SEALED = (
    "client_id",
    "content_hash",
    "cadre_id",
    "posting_id",
    "village_id",
    "household_id",
    "kind",
    "captured_at",
    "captured_offset_min",
    "local_date",
    "local_time",
    "received_at",
    "device_id",
    "mock_location",
    "note",
)
CHECKIN_POSITION = ("latitude", "longitude", "accuracy_m", "altitude_m")


def json_value(value):
    """A column's value as records show it: instants in UTC ISO 8601, days and times in
    ISO 8601, everything else as it is."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return value


def checkin_seal(checkin) -> dict:
    """{"columns": hash, "position": hash} of a check-in as just written."""
    return {
        "columns": _hash(checkin, CHECKIN_SEALED),
        "position": _hash(checkin, CHECKIN_POSITION),
    }


def _hash(obj, keys):
    values = {key: json_value(getattr(obj, key)) for key in keys}
    return hashlib.sha256(canonical_json(values).encode()).hexdigest()
