"""The demo's attendance history: what the console shows on a fresh `make run`.

For the last full month and the current month up to yesterday (both relative to the day
the demo is seeded, the one input besides the regions files), every resident cadre checks
in on most working days, a few days are missing, some check-ins carry a flag awaiting
review, some cadres took approved leave or declared a duty trip, one leave waits for
approval, and paired aid cadres visit their households. Check-ins are records without
photos: the demo holds no one's pictures. Choices are hashed from fixed text as in the
rest of the demo, so the same day always gives the same history.
"""

import uuid
from datetime import UTC, datetime, time, timedelta

from geopy.distance import geodesic

from server.extensions import db
from server.models import Checkin, Flag, Household, Leave
from server.services.policies import SEVERITY


def _h(*parts):
    from server.services.demo import _h as demo_hash  # demo imports this module

    return demo_hash(*parts)


def _client_id(*parts):
    """A UUID as a phone makes one, but fixed by what it records (the demo is
    deterministic)."""
    return str(uuid.UUID(int=(_h("client-hi", *parts) << 64) | _h("client-lo", *parts), version=4))


def _history_days(today):
    """From the first day of last month to yesterday."""
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    return [first + timedelta(days=n) for n in range((today - first).days)]


def _checkin(posting, day, at, *, kind="presence", household=None, verdict="accepted"):
    village = posting.village
    origin = (
        (household.latitude, household.longitude)
        if household and household.latitude
        else (
            village.latitude,
            village.longitude,
        )
    )
    metres = 20 + _h("d", posting.cadre.phone, day, at) % 180
    point = geodesic(meters=metres).destination(origin, _h("b", posting.cadre.phone, day) % 360)
    captured = datetime.combine(day, at, tzinfo=UTC) - timedelta(hours=8)
    return Checkin(
        client_id=_client_id(posting.cadre.phone, day, at, household.code if household else ""),
        content_hash="0" * 64,
        cadre=posting.cadre,
        posting=posting,
        village=village,
        household=household,
        kind=kind,
        latitude=round(point.latitude, 6),
        longitude=round(point.longitude, 6),
        accuracy_m=float(8 + _h("acc", posting.cadre.phone, day) % 30),
        captured_at=captured,
        captured_offset_min=480,
        local_date=day,
        local_time=at,
        received_at=captured + timedelta(minutes=1 + _h("sync", posting.cadre.phone, day) % 90),
        device_id=f"demo-phone-{posting.cadre.phone}",
        verdict=verdict,
        distance_m=float(metres),
    )


def _leaves(posting, days):
    """Some cadres had approved leave or a declared duty trip last month."""
    phone = posting.cadre.phone
    roll = _h("leave", phone) % 10
    if roll > 2:
        return []
    start = days[5 + _h("leave-day", phone) % 15]
    kind = "duty_trip" if roll == 0 else "leave"
    length = 1 + _h("leave-len", phone) % 3
    return [
        Leave(
            posting=posting,
            cadre_id=posting.cadre_id,
            kind=kind,
            start_date=start,
            end_date=start + timedelta(days=length - 1),
            reason="参加县委组织部培训" if kind == "duty_trip" else "家中老人住院陪护",
            status="approved",
            approver_level="township",
            decided_at=datetime.combine(start, time(9), tzinfo=UTC) - timedelta(days=2),
            decision_reason="同意",
        )
    ]


def seed_history(postings, today, *, departments):
    """Add the demo's attendance history to the session (the caller commits)."""
    days = _history_days(today)
    rows = []
    for posting in postings:
        phone = posting.cadre.phone
        leaves = _leaves(posting, days)
        approver = departments.get(posting.village.code[:6].ljust(12, "0"))
        for leave in leaves:
            leave.decided_by_id = approver.id if approver else None
        away = {
            leave.start_date + timedelta(days=n)
            for leave in leaves
            for n in range((leave.end_date - leave.start_date).days + 1)
        }
        db.session.add_all(leaves)
        if posting.role == "paired_aid":
            for household in posting_households(posting):
                for visit in range(2):
                    day = days[(_h("visit", household.code, visit) % len(days))]
                    rows.append(
                        _checkin(posting, day, time(15, 10), kind="household_visit",
                                 household=household)
                    )  # fmt: skip
            continue
        skip_rate = 3 + _h("diligence", phone) % 12  # a few cadres miss many days
        for day in days:
            if day < posting.start_date or day in away or day.weekday() >= 5:
                continue
            if _h("skip", phone, day) % 100 < skip_rate:
                continue
            at = time(7 + _h("hour", phone, day) % 3, _h("minute", phone, day) % 60)
            flagged = _h("flag", phone, day) % 40 == 0
            checkin = _checkin(posting, day, at, verdict="flagged" if flagged else "accepted")
            if flagged:
                checkin.flags.append(_flag(checkin, phone, day))
            rows.append(checkin)
    db.session.add_all(rows)
    pending = next((p for p in postings if p.role == "first_secretary"), None)
    if pending is not None:
        start = today + timedelta(days=3)
        db.session.add(
            Leave(
                posting=pending,
                cadre_id=pending.cadre_id,
                kind="leave",
                start_date=start,
                end_date=start + timedelta(days=1),
                reason="孩子学校家长会",
                status="pending",
                approver_level="township",
            )
        )
    return len(rows)


def _flag(checkin, phone, day):
    if _h("kind", phone, day) % 2:
        metres = 1400 + _h("far", phone, day) % 3000
        checkin.distance_m = float(metres)
        return Flag(
            code="outside_geofence",
            severity=SEVERITY["outside_geofence"],
            details={"distance_m": metres, "radius_m": 1000, "allowance_m": 30},
        )
    return Flag(
        code="photo_time_mismatch",
        severity=SEVERITY["photo_time_mismatch"],
        details={"difference_min": 40 + _h("late", phone, day) % 200, "limit_min": 15},
    )


def posting_households(posting):
    return (
        db.session.execute(
            db.select(Household)
            .where(Household.village_id == posting.village_id)
            .where(Household.cadres.any(id=posting.cadre_id))
            .order_by(Household.code)
        )
        .scalars()
        .all()
    )
