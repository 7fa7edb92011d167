"""The generator's check-ins, written a week at a time from the attendance plan, in the
order they were made (so ids follow time, as in a real database), with their photos
(`generate_photos`), flags and reviews (`generate_flags`).

A resident cadre checks in once on each day in the village, mostly between 7 and 10:30,
now and then again in the evening; a paired aid cadre at each household visit; an
inspection team on arrival. Positions lie within 350 m of the post (or the household);
local date and time are the device time in UTC+8 (Asia/Shanghai has no daylight
saving); most phones sync within minutes, 8% hours later.

Millions of rows: every column is drawn for a whole week at once with NumPy, and only
the few flagged check-ins go through Python one by one.
"""

import hashlib
from datetime import UTC, datetime, time

import numpy as np

from bench.generate_attendance import PRESENT
from bench.generate_flags import FLAG_CODES, FLAG_WEIGHTS, Flags
from bench.generate_photos import PHONE_MODELS, Photos
from server.models import Checkin

LOCAL_S = 8 * 3600
M_PER_DEG = 111_200.0
CHUNK_DAYS = 7
KINDS = ("presence", "household_visit", "inspection_arrival")
NOTES = ("村部值班", "入户走访脱贫户", "参加村两委会议", "查看产业项目进度", "接待群众来访")
TIMES = [time(s // 3600, s // 60 % 60, s % 60) for s in range(86400)]
MOCK = [False if reports else None for _, _, reports in PHONE_MODELS]  # iOS says nothing
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def seed_of(*parts):
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "big")


class Stream:
    def __init__(self, writer, places, staff, posts, plan, inspections, seed, *, closed, now):
        self.writer, self.plan, self.now = writer, plan, now
        self.np = np.random.default_rng(seed_of(seed, "checkins"))
        self.posts = posts
        n = len(posts)
        self.codes = np.frombuffer(b"".join(plan.codes[p.id] for p in posts), np.uint8)
        self.codes = self.codes.reshape(n, len(plan.days))
        self.flag_rate = np.array([plan.habits[p.id].flagged for p in posts])
        self.cadre = np.array([p.cadre_id for p in posts])
        self.post_id = np.array([p.id for p in posts])
        self.village = np.array([p.village_id for p in posts])
        self.lat = np.array([places.posts[p.village][0] for p in posts])
        self.lon = np.array([places.posts[p.village][1] for p in posts])
        self.devices = []  # device id strings; the arrays below hold indices into it
        self.phone = np.zeros((n, 2), np.int64)  # device index before and after a switch
        self.model = np.zeros((n, 2), np.int64)
        self.switch = np.full(n, len(plan.days), np.int64)  # day index of a new phone
        index = {day: i for i, day in enumerate(plan.days)}
        for k, post in enumerate(posts):
            for slot, (since, device, model) in enumerate(post.phones[:2]):
                self.devices.append(device)
                self.phone[k, slot:], self.model[k, slot:] = len(self.devices) - 1, model
                if slot:
                    self.switch[k] = index[since]
        self.dates = np.array(plan.days, dtype="datetime64[D]")
        # Each day's local midnight, in seconds since the epoch.
        self.midnight = np.array([(d - EPOCH.date()).days * 86400 - LOCAL_S for d in plan.days])
        self.visits, self.arrivals = self._visits(posts), self._arrivals(posts, inspections)
        self.flags = Flags(self, staff, posts, plan, inspections, seed, closed=closed, now=now)
        self.photos = Photos(self.np, seed_of(seed, "photos"))

    def _visits(self, posts):
        """Every household visit of the period, as arrays."""
        rows = []
        for k, post in enumerate(posts):
            for day, households in self.plan.visits.get(post.id, {}).items():
                rows += [(k, day, hid, lat, lon) for hid, lat, lon in households]
        post, day, household, lat, lon = zip(*rows, strict=True) if rows else ([],) * 5
        kind = np.ones(len(rows), np.int64)
        return {"post": post, "day": day, "household": household, "kind": kind} | {
            "h_lat": np.array(lat, float), "h_lon": np.array(lon, float)  # None is NaN
        }  # fmt: skip

    def _arrivals(self, posts, inspections):
        """Every inspection team's arrival, as arrays."""
        where, rows = {post.id: k for k, post in enumerate(posts)}, []
        for day, found in inspections.arrivals.items():
            for fid, inspector, device, post, at in found:
                self.devices.append(device)
                seconds = int((at - EPOCH).total_seconds()) - int(self.midnight[day])
                rows.append((where[post.id], day, seconds, inspector, len(self.devices) - 1, fid))
        post, day, sec, by, device, finding = zip(*rows, strict=True) if rows else ([],) * 6
        kind = np.full(len(rows), 2, np.int64)
        return {"post": post, "day": day, "sec": sec, "by": by, "by_device": device} | {
            "finding": finding, "kind": kind
        }  # fmt: skip

    def run(self, stage=None):
        """Write every day of the plan; `stage(data, sha)` makes real photo files."""
        self.photos.stage = stage
        self.last_id = 0
        days = len(self.plan.days)
        for first in range(0, days, CHUNK_DAYS):
            chunk = self._chunk(first, min(first + CHUNK_DAYS, days))
            self.writer.write_columns(Checkin, self._columns(chunk))
            self.photos.write(self.writer)
            self.flags.write(self.writer)

    def _chunk(self, first, end):
        """Who checked in when, this week, in time order: a dict of arrays."""
        rng = self.np
        day, post = np.nonzero(self.codes[:, first:end].T == PRESENT)
        # Mornings from 7:00 to 10:30, most around 8:45; one day in eight the evening too.
        morning = 25200 + (12600 * rng.random((3, len(day))).mean(axis=0)).astype(np.int64)
        evening = rng.random(len(day)) < 0.12
        late = 66600 + (rng.random(evening.sum()) * 10800).astype(np.int64)  # 18:30-21:30
        residents = {
            "post": np.concatenate([post, post[evening]]),
            "day": np.concatenate([day, day[evening]]) + first,
            "sec": np.concatenate([morning, late]),
        }
        residents["kind"] = np.zeros(len(residents["post"]), np.int64)
        visits = _within(self.visits, first, end)
        visits["sec"] = 32400 + (rng.random(len(visits["post"])) * 28800).astype(np.int64)
        parts = (residents, visits, _within(self.arrivals, first, end))
        c = {}
        for key, blank in FIELDS.items():
            values = [part.get(key, np.full(len(part["post"]), blank)) for part in parts]
            c[key] = np.concatenate(values).astype(type(blank))  # an empty part is float
        order = np.lexsort((c["sec"], c["day"]))
        c = {key: value[order] for key, value in c.items()}
        return self._measure(c)

    def _measure(self, c):
        """Times, positions and the flags drawn for each check-in of the chunk."""
        rng, n = self.np, len(c["post"])
        c["id"] = np.arange(self.last_id + 1, self.last_id + 1 + n)
        self.last_id += n
        c["captured"] = (self.midnight[c["day"]] + c["sec"]) * 1_000_000
        late = rng.random(n) < 0.08
        delay = np.where(late, 600 + rng.random(n) * 107_400, 5 + rng.random(n) * 235)
        now = int((self.now - EPOCH).total_seconds()) * 1_000_000
        c["received"] = np.minimum(c["captured"] + delay.astype(np.int64) * 1_000_000, now)
        flagged = (rng.random(n) < self.flag_rate[c["post"]]) & (c["kind"] != 2)
        weights = np.cumsum(FLAG_WEIGHTS) / sum(FLAG_WEIGHTS)
        c["code"] = np.where(flagged, np.searchsorted(weights, rng.random(n)), -1)
        outside = c["code"] == FLAG_CODES.index("outside_geofence")
        c["metres"] = np.where(outside, 1300 + rng.random(n) * 4700, 5 + rng.random(n) * 345)
        poor = c["code"] == FLAG_CODES.index("poor_accuracy")
        c["accuracy"] = np.round(
            np.where(poor, 220 + rng.random(n) * 680, 4 + rng.random(n) * 36), 1
        )
        skew = c["code"] == FLAG_CODES.index("clock_skew")  # synced 3 to 8 days late
        late = c["captured"] + (73 * 3600 + rng.random(n) * 127 * 3600).astype(np.int64) * 1_000_000
        c["received"] = np.where(skew & (late < now), late, c["received"])
        c["code"] = np.where(skew & (late >= now), -1, c["code"])
        has_home = ~np.isnan(c["h_lat"])
        lat0 = np.where(has_home, c["h_lat"], self.lat[c["post"]])
        lon0 = np.where(has_home, c["h_lon"], self.lon[c["post"]])
        bearing = rng.random(n) * 2 * np.pi
        c["lat"] = np.round(lat0 + c["metres"] * np.cos(bearing) / M_PER_DEG, 6)
        scale = M_PER_DEG * np.cos(np.radians(lat0))
        c["lon"] = np.round(lon0 + c["metres"] * np.sin(bearing) / scale, 6)
        after = c["day"] >= self.switch[c["post"]]
        c["device"] = np.where(
            c["kind"] == 2, c["by_device"], self.phone[c["post"], after.astype(int)]
        )
        c["model"] = np.where(c["kind"] == 2, 0, self.model[c["post"], after.astype(int)])
        c["photos"] = np.where(
            c["kind"] == 1, rng.random(n) < 0.6, 1 + (rng.random(n) < 0.1) * (c["kind"] == 0)
        )
        c["altitude"] = np.where(rng.random(n) < 0.6, np.round(10 + rng.random(n) * 70, 1), np.nan)
        c["note"] = np.where(rng.random(n) < 0.03, (rng.random(n) * len(NOTES)).astype(int), -1)
        c["uuid"] = rng.bytes(16 * n)
        c["decision"] = [None] * n
        c["verdict"] = ["accepted"] * n
        return c

    def _columns(self, c):
        """The check-in table's columns for the chunk (its photos and flags first: they
        decide the verdicts)."""
        photo_flags = self.photos.add(c)
        self.flags.settle(c, photo_flags)
        n, raw, posts = len(c["id"]), c["uuid"], c["post"]
        clients = [_uuid4(raw[k : k + 16].hex()) for k in range(0, 16 * n, 16)]
        return {
            "id": c["id"],
            "client_id": clients,
            "content_hash": [hashlib.sha256(x.encode()).hexdigest() for x in clients],
            "cadre_id": np.where(c["kind"] == 2, c["by"], self.cadre[posts]),
            "posting_id": self.post_id[posts],
            "village_id": self.village[posts],
            "household_id": [h if h >= 0 else None for h in c["household"].tolist()],
            "kind": [KINDS[k] for k in c["kind"].tolist()],
            "latitude": c["lat"],
            "longitude": c["lon"],
            "accuracy_m": c["accuracy"],
            "altitude_m": c["altitude"],
            "captured_at": c["captured"].astype("datetime64[us]"),
            "captured_offset_min": np.full(n, 480),
            "local_date": self.dates[c["day"]],
            "local_time": [TIMES[s] for s in c["sec"].tolist()],
            "received_at": c["received"].astype("datetime64[us]"),
            "device_id": [self.devices[d] for d in c["device"].tolist()],
            "mock_location": [MOCK[m] for m in c["model"].tolist()],
            "note": [NOTES[k] if k >= 0 else None for k in c["note"].tolist()],
            "verdict": c["verdict"],
            "distance_m": np.round(c["metres"], 1),
            "review_decision": c["decision"],
        }


# Every column a check-in row of a chunk has, and its value when a kind has none.
FIELDS = {"post": -1, "day": -1, "sec": -1, "kind": -1, "household": -1, "h_lat": np.nan} | {
    "h_lon": np.nan, "by": -1, "by_device": -1, "finding": -1
}  # fmt: skip


def _within(part, first, end):
    """The rows of a part whose day index lies in [first, end)."""
    day = np.asarray(part["day"], np.int64)
    keep = (day >= first) & (day < end)
    return {key: np.asarray(value)[keep] for key, value in part.items()}


def _uuid4(h):
    """A version-4 UUID as uuid.UUID prints it, from 32 random hex digits."""
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"
