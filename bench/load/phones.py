"""The simulated phones: resident cadres of the generated province with an active posting
today, each with the phone the generator gave them, and the check-ins they send."""

import math
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import bindparam, text

from bench.generate_people import PASSWORD
from server.models.postings import RESIDENT_ROLES
from server.models.regions import DEFAULT_GEOFENCE_M

BEIJING = timezone(timedelta(hours=8))

# One row per resident posting active today, with its village's post and the cadre's
# most recent device (the generator's; None for a cadre it gave none).
POSTINGS = text(
    """
    SELECT u.phone, r.latitude, r.longitude, r.geofence_radius_m,
           (SELECT d.device_id FROM device d WHERE d.user_id = u.id
            ORDER BY d.last_seen_at DESC, d.id DESC LIMIT 1) AS device_id
    FROM posting p
    JOIN user_account u ON u.id = p.cadre_id
    JOIN region r ON r.id = p.village_id
    WHERE p.status = 'active' AND p.role IN :roles AND p.start_date <= :today
      AND (p.end_date IS NULL OR p.end_date >= :today)
      AND u.active AND u.phone LIKE '139%' AND r.latitude IS NOT NULL
    ORDER BY p.id
    """
).bindparams(bindparam("roles", list(RESIDENT_ROLES), expanding=True))


@dataclass
class Phone:
    phone: str
    device_id: str
    latitude: float  # the village post
    longitude: float
    radius_m: float
    access_token: str | None = None

    def login_body(self):
        return {"phone": self.phone, "password": PASSWORD, "device_id": self.device_id}

    def checkin(self, rng, photo):
        """(form fields, photo bytes): a presence check-in from inside the geofence, taken
        now, with the photo restamped to that moment and place."""
        lat, lon = _near(rng, self.latitude, self.longitude, 0.3 * self.radius_m)
        now = datetime.now(BEIJING).replace(microsecond=0)
        form = {
            "client_id": str(uuid.uuid4()),
            "kind": "presence",
            "latitude": f"{lat:.7f}",
            "longitude": f"{lon:.7f}",
            "accuracy_m": f"{rng.uniform(5, 25):.1f}",
            "captured_at": now.isoformat(),
            "device_id": self.device_id,
        }
        return form, photo.stamped(now, lat, lon)


def load(connection, count, seed=1):
    """`count` phones picked at random (reproducibly) from the cadres with exactly one
    resident posting today; fewer if there are not so many."""
    today = datetime.now(BEIJING).date()
    rows = connection.execute(POSTINGS.bindparams(today=today)).all()
    seen = {}
    for row in rows:
        seen[row.phone] = None if row.phone in seen else row  # two postings: ambiguous, skip
    phones = [
        Phone(r.phone, r.device_id or f"load-{r.phone}", r.latitude, r.longitude,
              r.geofence_radius_m or DEFAULT_GEOFENCE_M)
        for r in seen.values() if r is not None
    ]  # fmt: skip
    random.Random(seed).shuffle(phones)
    return phones[:count]


def _near(rng, lat, lon, radius_m):
    """A point uniformly inside a circle of radius_m around (lat, lon)."""
    distance = radius_m * math.sqrt(rng.random())
    bearing = rng.uniform(0, 2 * math.pi)
    north, east = distance * math.cos(bearing), distance * math.sin(bearing)
    return lat + north / 111_320, lon + east / (111_320 * math.cos(math.radians(lat)))
