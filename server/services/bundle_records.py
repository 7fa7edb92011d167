"""The records behind a case, as they go into its evidence bundle: every row the case's
and its recommendation's `evidence` lists cite, with what belongs to it (a check-in's
photos, flags and reviews; a finding's signatures, problems and arrival), each written
as the database row's columns. See docs/evidence-bundle.md."""

import hashlib
import json

from sqlalchemy import select

from server import auth
from server.extensions import db
from server.models import (
    Assignment,
    Checkin,
    CheckinReview,
    Finding,
    Flag,
    Leave,
    MonthClosure,
    Photo,
    Posting,
    Problem,
    Rectification,
    Region,
)
from server.services.cases import concerns
from server.services.closures import standing_closure
from server.services.flags import _redact, hide_others
from server.services.policies import ancestor_codes
from server.services.seals import json_value

EXTENSIONS = {"jpeg": "jpg", "heic": "heic", "png": "png", "webp": "webp"}


plain = json_value  # a record's columns as JSON, as the seals hash them


def row(obj, exclude=()):
    """Every column of a row, JSON-ready."""
    return {
        column.key: plain(getattr(obj, column.key))
        for column in obj.__mapper__.column_attrs
        if column.key not in exclude
    }


def photo_path(photo):
    return f"photos/{photo.sha256}.{EXTENSIONS.get(photo.format, photo.format)}"


class Collector:
    """Gathers records (path -> JSON), the files they cite, and the objects whose audit
    events belong in the bundle. Records are what the case cites: a person sees
    everything held against them. A cited row about someone else (another posting and
    cadre) goes in whole only for a caller who may see it, and otherwise as a reference
    (type, id, SHA-256 of its columns); closures' full snapshots (every posting of a
    jurisdiction) likewise depend on the caller's scope."""

    def __init__(self, case, actor):
        self.case, self.actor = case, actor
        self.records = {}
        self.photos = {}  # sha256 -> Photo (one file per content)
        self.attachments = {}  # sha256 -> CaseAttachment
        self.snapshots = {}  # path -> the closure's snapshot text, byte for byte as hashed
        self.unresolved = []
        self.objects = {}  # audit object_type -> ids

    def shown(self, obj):
        """Whether obj goes into the bundle whole."""
        return concerns(obj, self.case.posting) or auth.can_see(self.actor, obj)

    def reference(self, path, kind, obj):
        """Someone else's row the caller may not see: named and fingerprinted, no
        content, no files, no audit events."""
        columns = json.dumps(row(obj), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        self.records[path] = {
            "type": "reference",
            "of": kind,
            "id": obj.id,
            "record_sha256": hashlib.sha256(columns.encode()).hexdigest(),
        }
        return path

    def flag(self, flag):
        """A flag's row, without the ids of earlier check-ins (a reused photo's first
        use) that are someone else's and out of the caller's scope."""
        earlier = {flag.details.get("earlier_checkin_id")}
        earlier.update(m.get("earlier_checkin_id") for m in flag.details.get("matches", []))
        visible = set()
        for checkin_id in earlier - {None}:
            checkin = _get(Checkin, checkin_id)
            if checkin is not None and self.shown(checkin):
                visible.add(checkin_id)
        # Nor the phone's other users, or a neighbouring check-in, out of the caller's scope.
        details = hide_others(_redact(flag.details, visible), self.actor)
        return {**row(flag), "details": details}

    def note(self, object_type, *ids):
        self.objects.setdefault(object_type, set()).update(str(i) for i in ids)

    def add(self, items):
        for item in items or []:
            kind = item.get("type") if isinstance(item, dict) else None
            handler = _HANDLERS.get(kind)
            if handler is None:
                self.unresolved.append({"item": item, "reason": "unknown evidence type"})
            elif not handler(self, item):
                self.unresolved.append({"item": item, "reason": "no such record"})

    def photo(self, photo):
        # The bytes go in if any cited row still keeps them (not purged by retention).
        if photo.purged_at is None or photo.sha256 not in self.photos:
            self.photos[photo.sha256] = photo
        self.note("photo", photo.id)
        return {**row(photo), "file": photo_path(photo)}

    def checkin(self, checkin_id):
        path = f"evidence/checkin-{checkin_id}.json"
        if path in self.records:
            return path
        checkin = _get(Checkin, checkin_id)
        if checkin is None:
            return None
        if not self.shown(checkin):
            return self.reference(path, "checkin", checkin)
        reviews = db.session.scalars(
            select(CheckinReview).where(CheckinReview.checkin_id == checkin.id).order_by("id")
        ).all()
        self.records[path] = {
            "type": "checkin",
            "checkin": {**row(checkin), "standing": checkin.standing},
            "photos": [self.photo(p) for p in checkin.photos],
            "flags": [self.flag(f) for f in checkin.flags],
            "reviews": [row(r) for r in reviews],
        }
        self.note("checkin", checkin.id)
        self.note("checkin_review", *(r.id for r in reviews))
        return path

    def finding(self, finding_id):
        path = f"evidence/finding-{finding_id}.json"
        if path in self.records:
            return path
        finding = _get(Finding, finding_id)
        if finding is None:
            return None
        if not self.shown(finding):
            return self.reference(path, "finding", finding)
        problems = db.session.scalars(
            select(Problem).where(Problem.finding_id == finding.id).order_by(Problem.id)
        ).all()
        arrival = None
        if finding.arrival_checkin_id is not None:
            arrival = self.checkin(finding.arrival_checkin_id)
        self.records[path] = {
            "type": "finding",
            "finding": row(finding),
            "signatures": [row(s) for s in finding.signatures],
            "problems": [row(p) for p in problems],
            "arrival_record": arrival,
        }
        self.note("finding", finding.id)
        return path

    def ledger_month(self, posting_id, month, closure):
        suffix = f"closure{closure.id}" if closure is not None else "open"
        path = f"evidence/ledger_month-{posting_id}-{month}-{suffix}.json"
        if path in self.records:
            return path
        record = {
            "type": "ledger_month",
            "posting_id": posting_id,
            "month": month,
            "closure": None,
            "row": None,
            "snapshot_file": None,
        }
        if closure is not None:
            snapshot = json.loads(closure.snapshot)
            record["closure"] = {**row(closure, exclude=("snapshot",)), "region_code": None}
            record["closure"]["region_code"] = closure.region.code
            record["row"] = next(
                (r for r in snapshot["rows"] if r.get("posting_id") == posting_id), None
            )
            if auth.can_see(self.actor, closure):
                # The whole jurisdiction's month: only for those who may see it anyway.
                record["snapshot_file"] = f"evidence/month_closure-{closure.id}-snapshot.json"
                self.snapshots[record["snapshot_file"]] = closure.snapshot
            self.note("month_closure", closure.id)
        self.records[path] = record
        return path


def as_id(value):
    """A row id from an evidence item (a number, or digits), or None."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31:
        return value
    return None


def _get(model, value):
    key = as_id(value)
    return db.session.get(model, key) if key is not None else None


def _checkin(collector, item):
    return collector.checkin(as_id(item.get("id"))) is not None


def _finding(collector, item):
    return collector.finding(as_id(item.get("id"))) is not None


def _photo(collector, item):
    photo = _get(Photo, item.get("id"))
    if photo is None:
        return False
    path = f"evidence/photo-{photo.id}.json"
    if not collector.shown(photo):
        collector.reference(path, "photo", photo)
        return True
    if photo.checkin_id is not None:
        collector.checkin(photo.checkin_id)
    collector.records[path] = {"type": "photo", "photo": collector.photo(photo)}
    return True


def _flag(collector, item):
    # A flag travels inside its check-in's record (with the check-in's other flags).
    flag = _get(Flag, item.get("id"))
    return flag is not None and collector.checkin(flag.checkin_id) is not None


def _leave(collector, item):
    leave = _get(Leave, item.get("id"))
    if leave is None:
        return False
    if not collector.shown(leave):
        collector.reference(f"evidence/leave-{leave.id}.json", "leave", leave)
        return True
    collector.records[f"evidence/leave-{leave.id}.json"] = {"type": "leave", "leave": row(leave)}
    collector.note("leave", leave.id)
    return True


def _assignment(collector, item):
    assignment = _get(Assignment, item.get("id"))
    if assignment is None:
        return False
    path = f"evidence/assignment-{assignment.id}.json"
    if not collector.shown(assignment):
        collector.reference(path, "assignment", assignment)
        return True
    collector.records[path] = {
        "type": "assignment",
        "assignment": {**row(assignment), "inspector_ids": assignment.inspector_ids},
    }
    return True


def _month_closure(collector, item):
    closure = _get(MonthClosure, item.get("id"))
    posting_id = as_id(item.get("posting_id", collector.case.posting_id))
    if closure is None or posting_id is None:
        return False
    collector.ledger_month(posting_id, closure.month, closure)
    return True


def _problem(collector, item):
    """A problem-list item with its rectification trail and the trail's photos."""
    problem = _get(Problem, item.get("id"))
    if problem is None:
        return False
    if not collector.shown(problem):
        collector.reference(f"evidence/problem-{problem.id}.json", "problem", problem)
        return True
    steps = db.session.scalars(
        select(Rectification)
        .where(Rectification.problem_id == problem.id)
        .order_by(Rectification.id)
    ).all()
    collector.records[f"evidence/problem-{problem.id}.json"] = {
        "type": "problem",
        "problem": row(problem),
        "rectifications": [
            {**row(step), "photos": [collector.photo(p) for p in step.photos]} for step in steps
        ],
    }
    collector.note("problem", problem.id)
    collector.note("rectification", *(step.id for step in steps))
    return True


def _ledger_month(collector, item):
    """{"posting_id"?, "month", "closure_id"?}: the posting's row of that month's
    frozen ledger; without a closure id, the closure standing for the village (or the
    latest one, if it was reopened)."""
    posting = _get(Posting, item.get("posting_id", collector.case.posting_id))
    month = item.get("month")
    if posting is None or not isinstance(month, str):
        return False
    if item.get("closure_id") is not None:
        closure = _get(MonthClosure, item["closure_id"])
        if closure is None:
            return False
    else:
        closure = standing_closure(posting.village, month) or _latest_closure(posting, month)
    collector.ledger_month(posting.id, month, closure)
    return True


def _latest_closure(posting, month):
    return db.session.execute(
        select(MonthClosure)
        .join(Region, Region.id == MonthClosure.region_id)
        .where(Region.code.in_(ancestor_codes(posting.village.code)), MonthClosure.month == month)
        .order_by(MonthClosure.closed_at.desc(), MonthClosure.id.desc())
        .limit(1)
    ).scalar_one_or_none()


_HANDLERS = {
    "checkin": _checkin,
    "flag": _flag,
    "finding": _finding,
    "photo": _photo,
    "leave": _leave,
    "assignment": _assignment,
    "month_closure": _month_closure,
    "ledger_month": _ledger_month,
    "problem": _problem,
}
