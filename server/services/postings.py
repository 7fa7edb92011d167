"""Postings: which cadre serves in which village, for whom, and when."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import or_

from server import auth
from server.errors import Conflict, Invalid
from server.extensions import db
from server.models import Posting
from server.models.postings import RESIDENT_ROLES
from server.models.regions import subtree_prefix
from server.services import audit, closures
from server.services.lookups import cadre_by_id, region_by_code, unit_by_id


def list_(*, actor, cadre_id=None, unit_id=None, status=None, role=None, within=None):
    stmt = auth.scoped(db.select(Posting), Posting, actor)
    if cadre_id is not None:
        stmt = stmt.where(Posting.cadre_id == cadre_id)
    if unit_id is not None:
        stmt = stmt.where(Posting.unit_id == unit_id)
    if status:
        stmt = stmt.where(Posting.status == status)
    if role:
        stmt = stmt.where(Posting.role == role)
    if within:
        stmt = stmt.where(Posting.village_id.in_(auth.subtree_ids(subtree_prefix(within))))
    return stmt.order_by(Posting.id)


def get(*, actor, posting_id):
    return auth.get_visible(Posting, posting_id, actor)


def overlapping(cadre_id, start_date, end_date, *, exclude_id=None):
    """Resident postings of the cadre whose dates overlap [start_date, end_date]."""
    stmt = db.select(Posting).where(
        Posting.cadre_id == cadre_id,
        Posting.role.in_(RESIDENT_ROLES),
        or_(Posting.end_date.is_(None), Posting.end_date >= start_date),
    )
    if end_date is not None:
        stmt = stmt.where(Posting.start_date <= end_date)
    if exclude_id is not None:
        stmt = stmt.where(Posting.id != exclude_id)
    return db.session.execute(stmt).scalars().all()


def check_resident_rules(posting, *, exclude_id=None, actor=None):
    """A cadre lives in one village at a time: no overlapping resident postings."""
    if posting.role not in RESIDENT_ROLES:
        return
    with db.session.no_autoflush:
        _check_resident_rules(posting, exclude_id, actor)


def _check_resident_rules(posting, exclude_id, actor):
    clash = overlapping(
        posting.cadre_id, posting.start_date, posting.end_date, exclude_id=exclude_id
    )
    if clash:
        _refuse_overlap(clash[0], actor)
    if posting.status == "active":
        stmt = db.select(Posting).where(
            Posting.cadre_id == posting.cadre_id,
            Posting.role.in_(RESIDENT_ROLES),
            Posting.status == "active",
        )
        if exclude_id is not None:
            stmt = stmt.where(Posting.id != exclude_id)
        other = db.session.execute(stmt.limit(1)).scalar_one_or_none()
        if other is not None:
            _refuse_overlap(other, actor)


def _refuse_overlap(other, actor):
    # Where and when the other posting is, only for those who may see it.
    if actor is None or auth.can_see(actor, other):
        raise Conflict(
            "posting_overlap",
            f"The cadre already has resident posting {other.id} in {other.village.name} "
            f"from {other.start_date} to {other.end_date or 'open end'} ({other.status}).",
            f"该干部已有驻村任职（{other.village.name}，"
            f"{other.start_date} 起，状态 {other.status}）。",
            errors={"posting_id": other.id},
        )
    raise Conflict(
        "posting_overlap",
        "The cadre already has an overlapping resident posting elsewhere.",
        "该干部在其他地方已有时间重叠的驻村任职。",
    )


def create(
    *, actor, cadre_id, village_code, unit_id, role, start_date, end_date=None, status="active"
):
    village = region_by_code(village_code, "village_code", level="village")
    auth.ensure_manages(actor, village)
    posting = Posting(
        cadre=cadre_by_id(cadre_id, actor=actor),
        village=village,
        unit=unit_by_id(unit_id),
        role=role,
        start_date=start_date,
        end_date=end_date,
        status=status,
    )
    posting.cadre_id = posting.cadre.id
    check_resident_rules(posting, actor=actor)
    db.session.add(posting)
    db.session.flush()
    audit.record("posting.create", posting, actor=actor, summary=_summary(posting))
    db.session.commit()
    return posting


def update(*, actor, posting_id, **data):
    posting = auth.get_visible(Posting, posting_id, actor)
    auth.ensure_manages(actor, posting.village)
    if "unit_id" in data:
        unit_by_id(data["unit_id"])
    _ensure_not_recalled(posting, data)
    served = posting.start_date, posting.end_date
    serves = data.get("start_date", served[0]), data.get("end_date", served[1])
    closures.ensure_open(posting.village, *_months_changed(served, serves))
    diff = audit.changes(posting, data)
    for key, value in data.items():
        setattr(posting, key, value)
    if posting.end_date is not None and posting.end_date < posting.start_date:
        raise Invalid(errors={"end_date": ["Must not be before start_date."]})
    if posting.status == "ended" and posting.end_date is None:
        posting.end_date = local_today()
        diff["end_date"] = [None, posting.end_date.isoformat()]
    check_resident_rules(posting, exclude_id=posting.id, actor=actor)
    audit.record("posting.update", posting, actor=actor, summary=diff)
    db.session.commit()
    return posting


def _ensure_not_recalled(posting, data):
    # The recall decision ended it; undoing that is posting the cadre again, on record.
    if posting.status != "recalled":
        return
    changed = [
        key for key in ("status", "end_date") if key in data and data[key] != getattr(posting, key)
    ]
    if changed:
        raise Conflict(
            "posting_recalled",
            "A recalled posting stays ended; to bring the cadre back, post them again.",
            "已召回的任职不能恢复或改期；如需恢复，请重新选派。",
            errors={"fields": changed},
        )


def _months_changed(served, serves):
    """A day in each month where the days served between (start, end) `served` and
    `serves` differ, up to today: a month can be closed only once it is over."""
    (old_start, old_end), (new_start, new_end), today = served, serves, local_today()
    spans = []
    if old_start != new_start:
        first, last = sorted((old_start, new_start))
        spans.append((first, last - timedelta(days=1)))
    if old_end != new_end:
        ends = sorted((old_end or date.max, new_end or date.max))
        spans.append((ends[0] + timedelta(days=1), ends[1]))
    days = []
    for first, last in spans:
        day, last = first, min(last, today)
        while day <= last:
            days.append(day)
            day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
    return days


def local_today():
    return datetime.now(ZoneInfo(current_app.config["TIMEZONE"])).date()


def _summary(posting):
    return {
        "cadre_id": posting.cadre_id,
        "village": posting.village.code,
        "unit_id": posting.unit.id,
        "role": posting.role,
        "start_date": posting.start_date.isoformat(),
        "end_date": posting.end_date.isoformat() if posting.end_date else None,
        "status": posting.status,
    }
