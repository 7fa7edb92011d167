"""Leave (请假) and declared duty trips (报备): request, approval by the level the policy
names for the duration, and close-out (销假) by the cadre's first presence check-in
after the leave began, or by a reviewer's hand."""

from datetime import timedelta

from sqlalchemy import func, or_, select

from server import auth
from server.errors import Conflict, Forbidden, Invalid
from server.extensions import db
from server.models import Checkin, Leave, Posting
from server.models.regions import subtree_prefix
from server.models.types import utcnow
from server.services import audit, leave_rules
from server.services.closures import ensure_open
from server.services.postings import local_today

# ---------------------------------------------------------------- requests


def create(*, actor, kind, start_date, end_date, reason, posting_id=None, late_reason=None):
    posting = leave_rules.lock(leave_rules.posting_for(actor, posting_id, start_date, end_date))
    leave_rules.refuse_overlap(posting, start_date, end_date)
    late = start_date < local_today()
    if late and not late_reason:
        raise Invalid(
            "late_reason_required",
            "This leave has already begun: say why it is asked for only now.",
            "该请假已开始，补假须说明理由。",
            errors={"late_reason": ["Required when start_date is before today."]},
        )
    leave = Leave(
        posting=posting,
        cadre_id=actor.id,
        kind=kind,
        start_date=start_date,
        end_date=end_date,
        reason=reason,
        status="pending",
        approver_level=leave_rules.approver_level(posting.village, start_date, end_date),
        late=late,
        late_reason=late_reason if late else None,
    )
    db.session.add(leave)
    db.session.flush()
    audit.record("leave.request", leave, actor=actor, summary=_summary(leave))
    db.session.commit()
    return leave


def cancel(*, actor, leave_id):
    leave = auth.get_visible(Leave, leave_id, actor)
    if leave.cadre_id != actor.id:
        raise Forbidden(
            "not_your_leave", "Only the cadre who asked may cancel.", "只有申请人可以撤回。"
        )
    # A cancellation and a decision at once: one waits and sees the other's status.
    db.session.refresh(leave, with_for_update=True)
    leave_rules.ensure_status(leave, "pending")
    leave.status = "cancelled"
    audit.record("leave.cancel", leave, actor=actor, summary={"status": "cancelled"})
    db.session.commit()
    return leave


# ---------------------------------------------------------------- decisions


def decide(*, actor, leave_id, decision, reason):
    leave = auth.get_visible(Leave, leave_id, actor)
    village = leave.posting.village
    auth.ensure_manages(actor, village)
    if not actor.has_role("admin"):
        leave_rules.ensure_level(actor, leave)
    # Two reviewers at once: the second waits, then finds the leave decided.
    db.session.refresh(leave, with_for_update=True)
    leave_rules.ensure_status(leave, "pending")
    if decision == "approved":
        ensure_open(village, *_days(leave.start_date, leave.end_date))
    leave.status, leave.decision_reason = decision, reason
    leave.decided_by_id, leave.decided_at = actor.id, utcnow()
    audit.record(
        "leave.decide",
        leave,
        actor=actor,
        summary={"decision": decision, "approver_level": leave.approver_level},
    )
    if decision == "approved":
        # Asked for after the fact, the cadre may be back already.
        back = _first_presence_after(leave)
        if back is not None:
            _close_by_checkin(leave, back)
    db.session.commit()
    return leave


def _days(first, last):
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# ---------------------------------------------------------------- close-out (销假)


def close(*, actor, leave_id, returned_on, reason):
    """By hand: the reviewer records the first day back."""
    leave = auth.get_visible(Leave, leave_id, actor)
    auth.ensure_manages(actor, leave.posting.village)
    db.session.refresh(leave, with_for_update=True)
    if leave.status != "approved" or leave.returned_on is not None:
        raise Conflict(
            "leave_not_closable",
            "Only an approved leave not yet closed can be closed.",
            "只有已批准且尚未销假的请假可以销假。",
            errors={"status": leave.status, "returned_on": _iso(leave.returned_on)},
        )
    if returned_on < leave.start_date or returned_on > local_today():
        raise Invalid(errors={"returned_on": ["Must lie between start_date and today."]})
    # The days from returned_on to end_date stop being excused.
    if returned_on <= leave.end_date:
        ensure_open(leave.posting.village, *_days(returned_on, leave.end_date))
    leave.returned_on, leave.closed_at, leave.closed_by_id = returned_on, utcnow(), actor.id
    audit.record(
        "leave.close",
        leave,
        actor=actor,
        summary={"returned_on": returned_on.isoformat(), "by": "hand", "reason": reason},
    )
    db.session.commit()
    return leave


def close_on_return(checkin):
    """Called by check-in submission, and by a reviewer accepting a check-in, inside
    their transaction (the caller commits): an accepted presence check-in closes the
    posting's approved leaves that began before its day. A flagged one waits for its
    review: one later rejected must not end a leave and turn its days into absence. A
    check-in earlier than the one which closed a leave moves the return back to its
    day; a close by hand stays."""
    if checkin.kind != "presence" or checkin.standing != "accepted":
        return []
    leaves = (
        db.session.execute(
            select(Leave).where(
                Leave.posting_id == checkin.posting_id,
                Leave.status == "approved",
                # Not on the first day: a cadre who checks in that morning then leaves
                # must not lose the whole leave.
                Leave.start_date < checkin.local_date,
                or_(
                    Leave.returned_on.is_(None),
                    (Leave.closed_by_checkin_id.is_not(None))
                    & (Leave.returned_on > checkin.local_date),
                ),
            )
        )
        .scalars()
        .all()
    )
    for leave in leaves:
        _close_by_checkin(leave, checkin)
    return leaves


def undo_close(checkin, actor):
    """Called by a reviewer rejecting a check-in (the caller commits): the leaves it
    closed are closed by the next accepted presence check-in instead, or reopened."""
    leaves = (
        db.session.execute(select(Leave).where(Leave.closed_by_checkin_id == checkin.id))
        .scalars()
        .all()
    )
    for leave in leaves:
        earlier = leave.returned_on
        back = _first_presence_after(leave)
        leave.returned_on = back.local_date if back is not None else None
        leave.closed_at = utcnow() if back is not None else None
        leave.closed_by_checkin_id = back.id if back is not None else None
        audit.record(
            "leave.close_undone",
            leave,
            actor=actor,
            summary={
                "rejected_checkin_id": checkin.id,
                "replaces_returned_on": _iso(earlier),
                "returned_on": _iso(leave.returned_on),
                "checkin_id": leave.closed_by_checkin_id,
            },
        )
        db.session.flush()
    return leaves


def _close_by_checkin(leave, checkin):
    earlier = leave.returned_on
    leave.returned_on, leave.closed_at = checkin.local_date, utcnow()
    leave.closed_by_checkin_id = checkin.id
    audit.record(
        "leave.close",
        leave,
        actor=checkin.cadre,
        summary={
            "returned_on": checkin.local_date.isoformat(),
            "by": "checkin",
            "checkin_id": checkin.id,
            "replaces_returned_on": _iso(earlier),
        },
    )
    # The caller may record its own event under no_autoflush: ours must be in the table
    # by then, or both would take the same place in the chain.
    db.session.flush()


def _first_presence_after(leave):
    return db.session.execute(
        select(Checkin)
        .where(
            Checkin.posting_id == leave.posting_id,
            Checkin.kind == "presence",
            Checkin.local_date > leave.start_date,
            func.coalesce(Checkin.review_decision, Checkin.verdict) == "accepted",
        )
        .order_by(Checkin.local_date, Checkin.captured_at, Checkin.id)
        .limit(1)
    ).scalar_one_or_none()


# ---------------------------------------------------------------- reading


def get(*, actor, leave_id):
    return auth.get_visible(Leave, leave_id, actor)


def list_(
    *,
    actor,
    status=None,
    kind=None,
    posting_id=None,
    cadre_id=None,
    region_code=None,
    date_from=None,
    date_to=None,
):
    stmt = auth.scoped(select(Leave), Leave, actor)
    if status:
        stmt = stmt.where(Leave.status == status)
    if kind:
        stmt = stmt.where(Leave.kind == kind)
    if posting_id is not None:
        stmt = stmt.where(Leave.posting_id == posting_id)
    if cadre_id is not None:
        stmt = stmt.where(Leave.cadre_id == cadre_id)
    if region_code:
        villages = auth.subtree_ids(subtree_prefix(region_code))
        stmt = stmt.where(
            Leave.posting_id.in_(select(Posting.id).where(Posting.village_id.in_(villages)))
        )
    if date_from:
        stmt = stmt.where(Leave.end_date >= date_from)
    if date_to:
        stmt = stmt.where(Leave.start_date <= date_to)
    return stmt.order_by(Leave.start_date.desc(), Leave.id.desc())


def _iso(day):
    return day.isoformat() if day is not None else None


def _summary(leave):
    return {
        "posting_id": leave.posting_id,
        "kind": leave.kind,
        "start_date": leave.start_date.isoformat(),
        "end_date": leave.end_date.isoformat(),
        "approver_level": leave.approver_level,
        "late": leave.late,
    }
