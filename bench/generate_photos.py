"""The generator's photo rows: one per check-in (two for one presence in ten; 60% of
household visits), each with its own SHA-256 and perceptual hash, and EXIF as phones
write it (capture time up to two minutes before the check-in, position a few metres
off; some phones leave either out).

Without files the hashes are made up: the SHA-256 of the seed and the photo id, and 64
random bits with 16-48 set (as a real picture's pHash has). With files each photo is a
small real JPEG of noise, staged into the evidence store (installed when the transaction
commits, as for an upload) and described by `photos.inspect` itself.
"""

import hashlib
import io
from datetime import timedelta, timezone

import numpy as np
from PIL import Image

from server.models import Photo
from server.services import photos

LOCAL_US = 8 * 3600 * 1_000_000
M_PER_DEG = 111_200.0
PHONE_MODELS = (  # make, model, reports mock locations (Android does, iOS does not)
    ("Xiaomi", "Redmi Note 12", True),
    ("HUAWEI", "nova 11", True),
    ("OPPO", "Reno10", True),
    ("vivo", "Y78", True),
    ("HONOR", "X50", True),
    ("Apple", "iPhone 13", False),
)
TIME_MISMATCH, GPS_MISMATCH = 1, 3  # indices in generate_flags.FLAG_CODES
TZ8 = timezone(timedelta(hours=8))


class Photos:
    def __init__(self, rng, seed, stage=None):
        self.rng, self.seed, self.stage = rng, seed, stage
        self.pending, self.last_id = None, 0

    def add(self, c):
        """The photos of a chunk's check-ins; {check-in row: [its photo flags]}."""
        rng, counts = self.rng, c["photos"].astype(np.int64)
        owner = np.repeat(np.arange(len(counts)), counts)
        n = len(owner)
        position = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
        ids = np.arange(self.last_id + 1, self.last_id + 1 + n)
        self.last_id += n
        seconds_before = (rng.random(n) * 120).astype(np.int64) * 1_000_000
        has_exif = rng.random(n) < 0.8
        jitter = (rng.random((2, n)) - 0.5) * 4e-4  # some 20 m
        upright = rng.random(n) < 0.5
        phash = _phashes(rng, n)
        models = c["model"][owner].tolist()
        columns = {
            "id": ids,
            "checkin_id": c["id"][owner],
            "position": position,
            "sha256": [hashlib.sha256(b"%d/%d" % (self.seed, i)).hexdigest() for i in ids.tolist()],
            "format": ["jpeg"] * n,
            "mime_type": ["image/jpeg"] * n,
            "size_bytes": 1_200_000 + (rng.random(n) * 3_300_000).astype(np.int64),
            "width": np.where(upright, 4000, 3000),
            "height": np.where(upright, 3000, 4000),
            "phash": [f"{u:016x}" for u in phash.tolist()],
            "phash_int": phash.view(np.int64),
            "exif_latitude": np.where(has_exif, np.round(c["lat"][owner] + jitter[0], 6), np.nan),
            "exif_longitude": np.where(has_exif, np.round(c["lon"][owner] + jitter[1], 6), np.nan),
            # The phone's wall clock, as EXIF writes it.
            "exif_taken_local": (c["captured"][owner] + LOCAL_US - seconds_before).astype(
                "datetime64[us]"
            ),
            "exif_offset": ["+08:00" if x else None for x in (rng.random(n) < 0.6).tolist()],
            "orientation": np.where(upright, 1, 6),
            "make": [PHONE_MODELS[m][0] for m in models],
            "model": [PHONE_MODELS[m][1] for m in models],
            "received_at": c["received"][owner].astype("datetime64[us]"),
        }
        flags = self._flagged(c, owner, position, columns)
        if self.stage is not None:
            self._files(columns)
        self.pending = columns
        return flags

    def _flagged(self, c, owner, position, columns):
        """A first photo taken long before the check-in, or far from it."""
        if self.stage is not None:
            return {}  # a noise picture has no EXIF to disagree with
        code = c["code"][owner]
        firsts = (position == 0) & np.isin(code, (TIME_MISMATCH, GPS_MISMATCH))
        flags = {}
        for j in np.flatnonzero(firsts).tolist():
            k, r, sha = int(owner[j]), float(self.rng.random()), columns["sha256"][j]
            if code[j] == TIME_MISMATCH:
                minutes = round(20 + r * 220, 1)
                columns["exif_taken_local"][j] -= np.timedelta64(int(minutes * 60e6), "us")
                taken = columns["exif_taken_local"][j].item().replace(tzinfo=TZ8).isoformat()
                details = {"photo_sha256": sha, "exif_taken_at": taken, "limit_min": 15}
                details |= {"offset_known": columns["exif_offset"][j] is not None}
                flags[k] = [("photo_time_mismatch", details | {"difference_min": minutes})]
            else:
                metres = round(600 + r * 4400, 1)
                lat = round(float(c["lat"][k]) + metres / M_PER_DEG, 6)
                lon = columns["exif_longitude"][j]
                lon = float(c["lon"][k]) if np.isnan(lon) else float(lon)
                columns["exif_latitude"][j], columns["exif_longitude"][j] = lat, lon
                details = {"photo_sha256": sha, "exif_latitude": lat, "exif_longitude": lon}
                flags[k] = [("exif_gps_mismatch", details | {"distance_m": metres, "limit_m": 500})]
        return flags

    def _files(self, columns):
        """Small real JPEGs of noise (every one looks different), staged by their hash."""
        for j in range(len(columns["sha256"])):
            noise = Image.frombytes("L", (16, 12), self.rng.bytes(192)).resize((64, 48))
            buffer = io.BytesIO()
            noise.convert("RGB").save(buffer, "JPEG", quality=85)
            data = buffer.getvalue()
            facts = photos.inspect(data, max_bytes=len(data), max_pixels=64 * 48)
            self.stage(data, facts.sha256)
            columns["sha256"][j], columns["size_bytes"][j] = facts.sha256, facts.size_bytes
            columns["width"][j], columns["height"][j] = facts.width, facts.height
            columns["phash"][j], columns["phash_int"][j] = facts.phash, facts.phash_int
            columns["exif_latitude"][j] = columns["exif_longitude"][j] = np.nan

    def write(self, writer):
        writer.write_columns(Photo, self.pending)


def _phashes(rng, n):
    """n random 64-bit hashes, none featureless (16-48 bits set)."""
    values = rng.integers(0, 2**64, size=n, dtype=np.uint64, endpoint=False)
    while True:
        bad = (np.bitwise_count(values) < 16) | (np.bitwise_count(values) > 48)
        if not bad.any():
            return values
        values[bad] = rng.integers(0, 2**64, size=int(bad.sum()), dtype=np.uint64)
