"""What retention must keep past its period: evidence that something still stands on.

A check-in, with its photos, is held while
- a flag on it is open (a reviewer has yet to decide: the SQL of retention.py), or a
  flag elsewhere that is open, or upheld on a check-in not yet purged, names it or one of
  its photos (the earlier picture `photo_reused` compares with, the neighbour of
  `impossible_travel`, the first `repeated_position`);
- a case cites it, in any status (a decided case can be corrected, and its file must show
  what it stood on), or a recommendation that was not set aside does: directly, through
  one of its photos or flags, through a finding (the team's arrival check-in and the
  check-ins the finding contradicted), or through a posting's month (`ledger_month`,
  `month_closure`: every check-in of that posting in that month);
- a draft finding names it as the team's arrival (retention.py's SQL).
A rectification photo is held while its problem is not verified (retention.py's SQL) or a
case or recommendation cites the problem. The flags of a held check-in hold the
check-ins they name, one step: a case about a reused photo needs the earlier picture.

Reading the holds takes a while at province scale, so a purge keeps what it read
(`Reading`) until an audited write that can add a hold commits (`may_add_hold`).

Cases and recommendations are few next to check-ins, so their JSON evidence lists are
read here in full and resolved in a handful of queries, the same way on every database.
"""

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, or_, select

from server.extensions import db
from server.models import (
    AuditEvent,
    Case,
    Checkin,
    Finding,
    Flag,
    MonthClosure,
    Photo,
    Recommendation,
    Rectification,
)
from server.services.bundle_records import as_id

CHUNK = 1000  # ids per IN (...): well inside every database's parameter limit
# Flags whose details name other check-ins or photos (verification.py, findings.py).
_NAMING_CODES = ("photo_reused", "impossible_travel", "repeated_position")
_CHECKIN_KEYS = ("earlier_checkin_id", "other_checkin_id")


@dataclass
class Holds:
    checkins: set = field(default_factory=set)
    photos: set = field(default_factory=set)  # held one by one (rectification photos too)


def held() -> Holds:
    """Every check-in and photo that cases, recommendations and open flags hold."""
    holds, cited = Holds(), _Cited()
    for posting_id, evidence in _citing():
        for item in evidence or []:
            if isinstance(item, dict):
                cited.add(item, posting_id)
    cited.resolve(holds)
    _photo_owners(holds)
    held_ids = sorted(holds.checkins)
    for start in range(0, len(held_ids), CHUNK):
        chunk = held_ids[start : start + CHUNK]
        holds.checkins |= _named_by_flags(Flag.checkin_id.in_(chunk), holds)
    # Open flags, and upheld ones on evidence still kept: a rejection that rests on an
    # earlier picture or position must keep it while the rejected check-in is answered
    # and reviewed. A dismissed flag stands on nothing.
    # EXISTS, not IN (SELECT ...): under the OR, PostgreSQL ran the IN as a subplan over
    # every check-in, 72 s on the load-test database; EXISTS is one index probe a flag.
    kept = select(Checkin.id).where(Checkin.id == Flag.checkin_id, Checkin.purged_at.is_(None))
    standing = or_(Flag.status == "open", and_(Flag.status == "upheld", kept.exists()))
    holds.checkins |= _named_by_flags(standing, holds)
    _photo_owners(holds)
    return holds


def _citing():
    """(posting id, evidence list) of every case and live recommendation."""
    cases = db.session.execute(select(Case.posting_id, Case.evidence)).all()
    recommendations = db.session.execute(
        select(Recommendation.posting_id, Recommendation.evidence).where(
            Recommendation.status != "set_aside"
        )
    ).all()
    return [*cases, *recommendations]


class _Cited:
    """The ids cited, by type, resolved in bulk."""

    def __init__(self):
        self.ids = {kind: set() for kind in ("checkin", "photo", "flag", "finding", "problem")}
        self.closures = {}  # closure id -> posting ids
        self.months = set()  # (posting id, "YYYY-MM")

    def add(self, item, posting_id):
        kind = item.get("type")
        if kind in self.ids and (key := as_id(item.get("id"))) is not None:
            self.ids[kind].add(key)
        posting_id = as_id(item.get("posting_id", posting_id))
        if kind == "ledger_month" and isinstance(item.get("month"), str):
            self.months.add((posting_id, item["month"]))
        elif kind == "month_closure" and (key := as_id(item.get("id"))) is not None:
            self.closures.setdefault(key, set()).add(posting_id)

    def resolve(self, holds):
        holds.checkins |= self.ids["checkin"]
        holds.photos |= self.ids["photo"]
        holds.checkins |= _column(Flag.checkin_id, Flag.id, self.ids["flag"])
        findings = self.ids["finding"]
        holds.checkins |= _column(Finding.arrival_checkin_id, Finding.id, findings) - {None}
        if findings:
            holds.checkins |= _contradicted_by(findings)
        holds.photos |= _column(
            Photo.id,
            Rectification.problem_id,
            self.ids["problem"],
            join=(Rectification, Rectification.id == Photo.rectification_id),
        )
        for closure_id, month in db.session.execute(
            select(MonthClosure.id, MonthClosure.month).where(
                MonthClosure.id.in_(list(self.closures))
            )
        ):
            self.months |= {(posting_id, month) for posting_id in self.closures[closure_id]}
        holds.checkins |= _months_of(self.months)


def _column(column, key, values, join=None):
    """The values of `column` in rows whose `key` is one of `values`."""
    found = set()
    values = sorted(values)
    for start in range(0, len(values), CHUNK):
        stmt = select(column)
        if join is not None:
            stmt = stmt.join(*join)
        found |= set(db.session.scalars(stmt.where(key.in_(values[start : start + CHUNK]))))
    return found


def _contradicted_by(finding_ids):
    flags = db.session.execute(
        select(Flag.checkin_id, Flag.details).where(Flag.code == "contradicted_by_inspection")
    )
    return {checkin_id for checkin_id, details in flags if details.get("finding_id") in finding_ids}


def _months_of(months):
    """Ids of the check-ins of every (posting id, "YYYY-MM") in `months`: the cited
    postings' check-ins read a thousand postings a query and sorted by month here (one
    query a month, or a few hundred months OR-ed in one, took minutes for a province's
    recommendations: PostgreSQL read every check-in for each)."""
    wanted = {}  # posting id -> {(year, month)}
    for posting_id, month in months:
        bounds = _bounds(month)
        if posting_id is not None and bounds is not None:
            wanted.setdefault(posting_id, set()).add((bounds[0].year, bounds[0].month))
    found = set()
    postings = sorted(wanted)
    for start in range(0, len(postings), CHUNK):
        rows = db.session.execute(
            select(Checkin.id, Checkin.posting_id, Checkin.local_date).where(
                Checkin.posting_id.in_(postings[start : start + CHUNK])
            )
        )
        found |= {i for i, posting, day in rows if (day.year, day.month) in wanted[posting]}
    return found


def _bounds(month):
    """[first day, first day of the next month) of "YYYY-MM", or None."""
    try:
        year, number = (int(part) for part in month.split("-"))
        first = date(year, number, 1)
    except (ValueError, AttributeError):
        return None
    return first, date(year + number // 12, number % 12 + 1, 1)


def _named_by_flags(condition, holds):
    """Check-in ids the flags matching `condition` name; the photos they name go
    straight into `holds`. Only the flag codes that name anything are read."""
    named = set()
    flags = db.session.scalars(select(Flag.details).where(Flag.code.in_(_NAMING_CODES), condition))
    for details in flags:
        for entry in [details, *(details.get("matches") or [])]:
            named |= {as_id(entry.get(key)) for key in _CHECKIN_KEYS}
            holds.photos.add(as_id(entry.get("earlier_photo_id")))
    holds.photos.discard(None)
    return named - {None}


def _photo_owners(holds):
    """A held photo holds its check-in (its record shows where it was taken)."""
    holds.checkins |= _column(Photo.checkin_id, Photo.id, holds.photos) - {None}


# Audited writes that cannot add a hold: views, log-ins, draws, people, places, leave,
# retention itself. Any other event committed since the holds were read makes them
# stale (every write that can add a hold is audited in its own transaction).
CANNOT_HOLD = (
    "auth.", "photo.view", "case_attachment.view", "case.bundle", "draw.", "assignment.read",
    "user.", "unit.", "region.", "household.", "posting.", "leave.", "calendar", "backup.",
    "retention.",
)  # fmt: skip


class Reading:
    """The held ids, read after the chain's head `seq`, and how far the events after
    it are known not to add a hold."""

    def __init__(self, seq, read):
        self.checked = seq  # read before the page and the holds: later events are looked at
        self.ids = read()

    def stale(self):
        """Whether an event that committed since can add a hold (each event is looked
        at once)."""
        events = db.session.execute(
            select(AuditEvent.seq, AuditEvent.action, AuditEvent.summary)
            .where(AuditEvent.seq > self.checked)
            .order_by(AuditEvent.seq)
        ).all()
        if any(may_add_hold(action, summary) for _, action, summary in events):
            return True
        if events:
            self.checked = events[-1].seq
        return False


def may_add_hold(action, summary):
    """Whether an audited write can have added a hold (conservative: unknown ones can)."""
    if action == "checkin.submit":  # a new check-in's flags may name older ones
        return bool(set(_NAMING_CODES) & set((summary or {}).get("flags") or ()))
    return not action.startswith(CANNOT_HOLD)
