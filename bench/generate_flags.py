"""The few check-ins that are not plain, one by one: their flags with the values
verification would have measured (a position out of the fence, a poor fix, a photo
taken long before or far away, a sync days late, a position repeated from another day,
a new phone, an inspection that found the cadre absent), the reviewers' decisions on
them, and the leave each first presence closes (销假, as `leaves.close_on_return` does).

Flags of closed months have all been reviewed (most accepted, a fifth rejected, every
contradicted one rejected); in the last month about half still wait.
"""

import random
from datetime import UTC, datetime, timedelta

import numpy as np

from server.models import CheckinReview, Flag
from server.services.policies import SEVERITY

FLAG_CODES = ("outside_geofence", "photo_time_mismatch", "poor_accuracy", "exif_gps_mismatch")
FLAG_CODES += ("repeated_position", "clock_skew")
FLAG_WEIGHTS = (30, 20, 15, 10, 10, 10)
OUTSIDE, REPEATED, POOR, SKEW = (FLAG_CODES.index(c) for c in (
    "outside_geofence", "repeated_position", "poor_accuracy", "clock_skew"))  # fmt: skip
ACCEPT_REASONS = ("经电话核实在村", "定位漂移，照片可证在村", "手机时间设置有误，已核实")
REJECT_REASONS = ("经核实当日不在村", "定位与驻村地点不符，无合理说明")
ANSWER = "当天在村开展工作，手机定位有偏差，请复核。"
STATUS = {None: "open", "accepted": "dismissed", "rejected": "upheld"}
FLAG_COLUMNS = ("id", "checkin_id", "code", "severity", "details", "status", "created_at")
REVIEW_COLUMNS = (
    "id", "checkin_id", "decision", "reason", "reviewer_id", "decided_at", "answer",
    "answered_at",
)  # fmt: skip


def _at(microseconds):
    return datetime.fromtimestamp(int(microseconds) / 1_000_000, UTC)


class Flags:
    def __init__(self, stream, staff, posts, plan, inspections, seed, *, closed, now):
        self.stream, self.plan, self.now, self.closed = stream, plan, now, closed
        self.rng = random.Random(f"{seed}:flags")
        self.reviewer = [staff.reviewers[p.village[:6].ljust(12, "0")] for p in posts]
        where = {post.id: k for k, post in enumerate(posts)}
        self.contradictions = {
            (where[pid], day): found for (pid, day), found in inspections.contradictions.items()
        }
        index = {day: i for i, day in enumerate(plan.days)}
        # Approved leaves by the day they began; those begun are waiting for a return.
        self.to_begin = sorted(
            (index[start], where[pid], lid)
            for pid, leaves in plan.open_leaves.items()
            for lid, start in leaves
        )
        self.waiting = {}  # post index -> [(leave id, day index it began)]
        self.last_spot = {}  # post index -> (day index, checkin id, latitude, longitude)
        self.on_new_phone = set()  # post indices whose new phone has been flagged
        self.flag_rows, self.review_rows, self.closings, self.arrivals = [], [], [], []
        self.flag_id = self.review_id = 0

    def settle(self, c, photo_flags):
        """Flags, decisions and reviews for the chunk's check-ins (decided in `c`)."""
        post, day, kind = c["post"], c["day"], c["kind"]
        new_phone = self._new_phones(c)
        cheats = [p for p, d in self.contradictions if day[0] <= d <= day[-1]] if len(day) else []
        contradicted = {
            k for k in np.flatnonzero((kind == 0) & np.isin(post, cheats)).tolist()
            if (int(post[k]), int(day[k])) in self.contradictions
        }  # fmt: skip
        todo = set(np.flatnonzero(c["code"] >= 0).tolist()) | new_phone | contradicted
        self.accepted_at = {}  # check-in row -> when a reviewer decided on it
        for k in sorted(todo | set(photo_flags)):
            flags = self._position(c, k) + photo_flags.get(k, [])
            if k in new_phone:
                device = self.stream.devices[int(c["device"][k])]
                flags.append(("new_device", {"reason": "unseen", "device_id": device}))
            if c["code"][k] == SKEW:
                hours = round(float(c["received"][k] - c["captured"][k]) / 3.6e9, 1)
                details = {"reason": "late_sync", "delay_h": hours, "limit_h": 72}
                flags.append(("clock_skew", details))
            found = (
                self.contradictions.get((int(post[k]), int(day[k]))) if k in contradicted else None
            )
            if found:
                fid, observed = found
                details = {"finding_id": fid, "observed_at": observed.isoformat()}
                flags.append(("contradicted_by_inspection", details | {"outcome": "absent"}))
            if flags:
                c["verdict"][k] = "flagged"
                c["decision"][k] = self._decide(c, k, flags, found is not None)
        self._remember_spots(c)
        self._close_leaves(c)
        for k in np.flatnonzero(kind == 2).tolist():
            self.arrivals.append((int(c["finding"][k]), int(c["id"][k])))

    def _new_phones(self, c):
        """The first check-in of each cadre on the phone they switched to."""
        after = (c["day"] >= self.stream.switch[c["post"]]) & (c["kind"] != 2)
        first = {}
        for k in np.flatnonzero(after).tolist():
            p = int(c["post"][k])
            if p not in self.on_new_phone and p not in first:
                first[p] = k
        self.on_new_phone.update(first)
        return set(first.values())

    def _position(self, c, k):
        code, p = int(c["code"][k]), int(c["post"][k])
        if code == REPEATED:
            earlier = np.flatnonzero((c["post"][:k] == p) & (c["day"][:k] != c["day"][k]))
            spot = (
                (int(c["day"][earlier[-1]]), int(c["id"][earlier[-1]]),
                 float(c["lat"][earlier[-1]]), float(c["lon"][earlier[-1]]))
                if earlier.size else self.last_spot.get(p)
            )  # fmt: skip
            if spot is None or spot[0] == c["day"][k]:
                return []
            c["lat"][k], c["lon"][k] = spot[2], spot[3]
            details = {"latitude": spot[2], "longitude": spot[3], "earlier_checkin_id": spot[1]}
            date = self.plan.days[spot[0]].isoformat()
            return [("repeated_position", details | {"earlier_date": date, "same_cadre": True})]
        if code == OUTSIDE:
            accuracy, metres = float(c["accuracy"][k]), round(float(c["metres"][k]), 1)
            details = {"target": "village", "distance_m": metres, "radius_m": 1000}
            details |= {"accuracy_m": accuracy, "allowed_m": round(1000 + min(accuracy, 200), 1)}
            post_lat, post_lon = float(self.stream.lat[p]), float(self.stream.lon[p])
            return [
                (
                    FLAG_CODES[code],
                    details | {"post_latitude": post_lat, "post_longitude": post_lon},
                )
            ]
        if code == POOR:
            return [("poor_accuracy", {"accuracy_m": float(c["accuracy"][k]), "limit_m": 200})]
        return []

    def _decide(self, c, k, flags, contradicted):
        """Write the flags and, if someone has decided, the review; the decision."""
        r, decision = self.rng.random, None
        received = _at(c["received"][k])
        if self.plan.month(int(c["day"][k])) in self.closed or (not contradicted and r() < 0.5):
            decision = "rejected" if contradicted or r() < 0.2 else "accepted"
            latest = self.now - timedelta(minutes=1)
            decided = min(received + timedelta(hours=4 + r() * 116), latest)
            self.accepted_at[k] = decided
            answer = answered = None
            if decision == "rejected" and r() < 0.3:  # the cadre answers
                answer, answered = ANSWER, min(decided + timedelta(hours=2 + r() * 46), latest)
            reasons = REJECT_REASONS if decision == "rejected" else ACCEPT_REASONS
            self.review_id += 1
            self.review_rows.append(
                (self.review_id, int(c["id"][k]), decision, self.rng.choice(reasons))
                + (self.reviewer[int(c["post"][k])], decided, answer, answered)
            )
        for code, details in flags:
            self.flag_id += 1
            self.flag_rows.append(
                (self.flag_id, int(c["id"][k]), code, SEVERITY[code], details)
                + (STATUS[decision], received)
            )
        return decision

    def _remember_spots(self, c):
        """Each cadre's last check-in of the chunk, for a repeat in a later one."""
        rows = np.flatnonzero(c["kind"] != 2)[::-1]
        posts, first = np.unique(c["post"][rows], return_index=True)
        for p, k in zip(posts.tolist(), rows[first].tolist(), strict=True):
            self.last_spot[p] = (int(c["day"][k]), int(c["id"][k]), c["lat"][k], c["lon"][k])

    def _close_leaves(self, c):
        """Each approved leave is closed by the first accepted presence after the day it
        began (by the machine at once, or by a reviewer later), as `leaves` does: a
        flagged one waiting for review, or a rejected one, closes nothing."""
        last_day = int(c["day"][-1]) if len(c["day"]) else -1
        while self.to_begin and self.to_begin[0][0] <= last_day:
            start, p, leave_id = self.to_begin.pop(0)
            self.waiting.setdefault(p, []).append((leave_id, start))
        waiting = np.fromiter(self.waiting, np.int64, len(self.waiting))
        rows = np.flatnonzero((c["kind"] == 0) & np.isin(c["post"], waiting))
        days = c["day"].tolist()
        for k in rows.tolist():
            p = int(c["post"][k])
            if (c["decision"][k] or c["verdict"][k]) != "accepted" or p not in self.waiting:
                continue
            still = [(lid, start) for lid, start in self.waiting[p] if start >= days[k]]
            at = self.accepted_at.get(k) or _at(c["received"][k])
            for leave_id, start in self.waiting[p]:
                if start < days[k]:
                    self.closings.append((leave_id, self.plan.days[days[k]], at, int(c["id"][k])))
            if still:
                self.waiting[p] = still
            else:
                del self.waiting[p]

    def write(self, writer):
        writer.write(Flag, FLAG_COLUMNS, self.flag_rows)
        writer.write(CheckinReview, REVIEW_COLUMNS, self.review_rows)
        self.flag_rows, self.review_rows = [], []
