"""Helpers for check-in tests: a valid submission near village A1, changed as needed."""

import io
import random
import uuid
from datetime import datetime, timedelta, timezone

from server.models.types import utcnow
from tests import photos

BEIJING = timezone(timedelta(hours=8))
# Village A1 of the test world (tests/factories.py).
POST = (32.7093, 116.7112)


def offset_point(lat, lon, north_m=0.0, east_m=0.0):
    """A point the given metres north and east (good enough below ~50 km)."""
    from math import cos, radians

    return lat + north_m / 111_320, lon + east_m / (111_320 * cos(radians(lat)))


def device_time(delta=timedelta(0)):
    """'Now' on a phone in China, plus delta, as the aware datetime the phone sends."""
    return (utcnow() + delta).astimezone(BEIJING).replace(microsecond=0)


def photo_for(at, seed=1, lat=POST[0], lon=POST[1], **kwargs):
    """A photo taken at `at` (aware), written with local wall time and its offset."""
    local = at.astimezone(BEIJING)
    return photos.jpeg(
        seed, lat=lat, lon=lon, taken=local.replace(tzinfo=None), offset="+08:00", **kwargs
    )


def jitter():
    """Real fixes scatter by metres; identical coordinates would look like a replay."""
    return random.uniform(-0.0002, 0.0002)


def fields(**overrides):
    at = overrides.pop("captured_at", None) or device_time()
    data = {
        "client_id": str(uuid.uuid4()),
        "kind": "presence",
        "latitude": round(POST[0] + 0.0005 + jitter(), 7),
        "longitude": round(POST[1] + jitter(), 7),
        "accuracy_m": 12.0,
        "captured_at": at.isoformat(),
        "device_id": "phone-zhangwei",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post(client, headers, form, files=(), url="/api/v1/checkins"):
    body = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in form.items()}
    body["photos"] = [(io.BytesIO(data), f"IMG_{i}.jpg") for i, data in enumerate(files)]
    return client.post(url, data=body, headers=headers, content_type="multipart/form-data")


def submit(client, headers, *, photo_seed=1, photo=True, files=None, **overrides):
    """A check-in with (by default) one honest photo matching its time and place."""
    form = fields(**overrides)
    if files is None:
        at = datetime.fromisoformat(form["captured_at"])
        files = [photo_for(at, photo_seed, form["latitude"], form["longitude"])] if photo else []
    return post(client, headers, form, files)


def flag_codes(response):
    return sorted(f["code"] for f in response.json["flags"])


def flag(response, code):
    return next(f for f in response.json["flags"] if f["code"] == code)
