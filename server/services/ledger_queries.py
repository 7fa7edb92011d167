"""The SQL behind the monthly ledger: one aggregate query per kind of evidence.

Days are folded into bit masks inside the database (bit i = the month's day i + 1, bit
`days_in_month` = the first day of the next month, which the overnight rule needs), so
a month of a province (hundreds of thousands of check-ins) comes back as a few integers
per posting rather than as rows to loop over.
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import BigInteger, Integer, and_, case, cast, func, literal, or_, select
from sqlalchemy.orm import selectinload

from server.extensions import db
from server.models.checkins import ARRIVAL, Checkin, Flag
from server.models.draws import Assignment
from server.models.findings import Finding
from server.models.households import Household, household_cadre
from server.models.leaves import Leave
from server.models.postings import Posting
from server.services import leave_rules

ACCEPTED = or_(
    Checkin.review_decision == "accepted",
    and_(Checkin.review_decision.is_(None), Checkin.verdict == "accepted"),
)
PENDING = and_(Checkin.review_decision.is_(None), Checkin.verdict == "flagged")


def _day_index(column, first):
    if db.engine.dialect.name == "sqlite":
        return cast(func.julianday(column) - func.julianday(first.isoformat()), Integer)
    return column - first  # date - date is an integer number of days on PostgreSQL


def _bit(column, first):
    return cast(literal(1), BigInteger).op("<<")(_day_index(column, first))


def _as_int(value):
    return int(value or 0)  # PostgreSQL sums bigints into numerics


def presence_masks(postings, first, last):
    """{posting_id: (accepted mask, pending mask)} of presence check-ins by local day.
    A day with any accepted presence is accepted; one with only flagged presence awaiting
    review is pending."""
    per_day = (
        select(
            Checkin.posting_id,
            _bit(Checkin.local_date, first).label("bit"),
            func.max(case((ACCEPTED, 1), else_=0)).label("accepted"),
            func.max(case((PENDING, 1), else_=0)).label("pending"),
        )
        .where(
            Checkin.posting_id.in_(postings),
            Checkin.kind == "presence",
            Checkin.local_date.between(first, last),
        )
        .group_by(Checkin.posting_id, Checkin.local_date)
        .subquery()
    )
    rows = db.session.execute(
        select(
            per_day.c.posting_id,
            func.sum(case((per_day.c.accepted == 1, per_day.c.bit), else_=0)),
            func.sum(
                case(
                    (and_(per_day.c.accepted == 0, per_day.c.pending == 1), per_day.c.bit),
                    else_=0,
                )
            ),
        ).group_by(per_day.c.posting_id)
    )
    return {pid: (_as_int(acc), _as_int(pend)) for pid, acc, pend in rows}


def overnight_masks(postings, first, last, evening_from, morning_until):
    """{posting_id: (evening mask, morning mask)} of accepted presence check-ins, the
    morning mask reaching one day past `last` (the morning after the month's last night)."""
    evening = time.fromisoformat(evening_from)
    morning = time.fromisoformat(morning_until)
    per_day = (
        select(
            Checkin.posting_id,
            _bit(Checkin.local_date, first).label("bit"),
            func.max(case((Checkin.local_time >= evening, 1), else_=0)).label("evening"),
            func.max(case((Checkin.local_time <= morning, 1), else_=0)).label("morning"),
        )
        .where(
            Checkin.posting_id.in_(postings),
            Checkin.kind == "presence",
            ACCEPTED,
            Checkin.local_date.between(first, last + timedelta(days=1)),
        )
        .group_by(Checkin.posting_id, Checkin.local_date)
        .subquery()
    )
    rows = db.session.execute(
        select(
            per_day.c.posting_id,
            func.sum(case((per_day.c.evening == 1, per_day.c.bit), else_=0)),
            func.sum(case((per_day.c.morning == 1, per_day.c.bit), else_=0)),
        ).group_by(per_day.c.posting_id)
    )
    return {pid: (_as_int(ev), _as_int(mo)) for pid, ev, mo in rows}


def open_flag_counts(postings, first, last):
    rows = db.session.execute(
        select(Checkin.posting_id, func.count(Flag.id))
        .join(Flag, Flag.checkin_id == Checkin.id)
        .where(
            Checkin.posting_id.in_(postings),
            Checkin.local_date.between(first, last),
            Checkin.kind != ARRIVAL,  # the inspectors' own record, never the cadre's
            Flag.status == "open",
        )
        .group_by(Checkin.posting_id)
    )
    return dict(rows.all())


def local_bounds(first, last):
    """The month as a half-open interval of aware datetimes in the jurisdiction's zone."""
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    start = datetime.combine(first, time.min, zone)
    return start, datetime.combine(last + timedelta(days=1), time.min, zone)


def finding_counts(postings, first, last):
    """{posting_id: (final findings, of which unexcused absences)} observed in the
    month. A finding amended by a later final one no longer counts: the amendment does.
    `absent` on a day of approved leave or duty trip is no unexcused absence."""
    start, end = local_bounds(first, last)
    amended = select(Finding.amends_id).where(
        Finding.amends_id.is_not(None), Finding.status == "final"
    )
    rows = db.session.execute(
        select(Assignment.posting_id, Finding.outcome, Finding.observed_at)
        .join(Assignment, Assignment.id == Finding.assignment_id)
        .where(
            Assignment.posting_id.in_(postings),
            Finding.status == "final",
            Finding.observed_at >= start,
            Finding.observed_at < end,
            Finding.id.not_in(amended),
        )
    )
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    counts = {}
    for pid, outcome, observed in rows:
        total, absent = counts.get(pid, (0, 0))
        day = observed.astimezone(zone).date()
        unexcused = outcome == "absent" and not leave_rules.excused(pid, day)
        counts[pid] = (total + 1, absent + unexcused)
    return counts


def household_coverage(postings, first, last, per_household):
    """{posting_id: (households paired, households visited at least `per_household`
    times)} for the posting's cadre in the posting's village."""
    paired = db.session.execute(
        select(Posting.id, func.count(Household.id))
        .join(household_cadre, household_cadre.c.cadre_id == Posting.cadre_id)
        .join(
            Household,
            and_(
                Household.id == household_cadre.c.household_id,
                Household.village_id == Posting.village_id,
            ),
        )
        .where(Posting.id.in_(postings))
        .group_by(Posting.id)
    ).all()
    visits = (
        select(Checkin.posting_id, Checkin.household_id, func.count(Checkin.id).label("n"))
        .join(
            household_cadre,
            and_(
                household_cadre.c.household_id == Checkin.household_id,
                household_cadre.c.cadre_id == Checkin.cadre_id,
            ),
        )
        .where(
            Checkin.posting_id.in_(postings),
            Checkin.kind == "household_visit",
            ACCEPTED,
            Checkin.local_date.between(first, last),
        )
        .group_by(Checkin.posting_id, Checkin.household_id)
        .subquery()
    )
    visited = dict(
        db.session.execute(
            select(visits.c.posting_id, func.count())
            .where(visits.c.n >= per_household)
            .group_by(visits.c.posting_id)
        ).all()
    )
    return {pid: (n, visited.get(pid, 0)) for pid, n in paired}


def approved_leaves(postings, first, last):
    """Approved leave and duty trips overlapping [first, last], as plain tuples."""
    return db.session.execute(
        select(
            Leave.id,
            Leave.posting_id,
            Leave.kind,
            Leave.start_date,
            Leave.end_date,
            Leave.returned_on,
        ).where(
            Leave.posting_id.in_(postings),
            Leave.status == "approved",
            Leave.start_date <= last,
            Leave.end_date >= first,
        )
    ).all()


def evidence_by_day(posting_ids, first, last):
    """{posting_id: {day: [check-in ids]}} of presence check-ins that count (for a page
    of the ledger: the check-ins behind each day present)."""
    rows = db.session.execute(
        select(Checkin.posting_id, Checkin.local_date, Checkin.id)
        .where(
            Checkin.posting_id.in_(posting_ids),
            Checkin.kind == "presence",
            ACCEPTED,
            Checkin.local_date.between(first, last),
        )
        .order_by(Checkin.posting_id, Checkin.local_date, Checkin.captured_at)
    )
    found = {}
    for posting_id, day, checkin_id in rows:
        found.setdefault(posting_id, {}).setdefault(day.isoformat(), []).append(checkin_id)
    return found


def day_evidence(posting, first, last):
    """{day: {"checkins": [...], "leave_ids": [...], "finding_ids": [...]}} for one
    posting's month: every check-in (with photos and flags), approved leave, final finding."""
    found = {}
    checkins = db.session.execute(
        select(Checkin)
        .options(selectinload(Checkin.photos), selectinload(Checkin.flags))
        .where(
            Checkin.posting_id == posting.id,
            Checkin.local_date.between(first, last),
            # An inspection's arrival is filed under the posting it inspects: it is the
            # team's record, and must never show a cadre that they were visited.
            Checkin.kind != ARRIVAL,
        )
        .order_by(Checkin.local_date, Checkin.local_time, Checkin.id)
    ).scalars()
    for checkin in checkins:
        found.setdefault(checkin.local_date, {}).setdefault("checkins", []).append(checkin)
    for leave_id, _pid, _kind, start, end, returned_on in approved_leaves(
        [posting.id], first, last
    ):
        if returned_on is not None:
            end = min(end, returned_on - timedelta(days=1))
        day = max(start, first)
        while day <= min(end, last):
            found.setdefault(day, {}).setdefault("leave_ids", []).append(leave_id)
            day += timedelta(days=1)
    start, end = local_bounds(first, last)
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    findings = db.session.execute(
        select(Finding.id, Finding.observed_at)
        .join(Assignment, Assignment.id == Finding.assignment_id)
        .where(
            Assignment.posting_id == posting.id,
            Finding.status == "final",
            Finding.observed_at >= start,
            Finding.observed_at < end,
        )
        .order_by(Finding.observed_at)
    )
    for finding_id, observed_at in findings:
        day = observed_at.astimezone(zone).date()
        found.setdefault(day, {}).setdefault("finding_ids", []).append(finding_id)
    return found
