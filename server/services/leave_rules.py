"""What a leave request and a decision must satisfy: whose posting it is, no overlap
with another, and who may approve it."""

from sqlalchemy import or_, select

from server.errors import Conflict, Forbidden, Invalid
from server.extensions import db
from server.models import Leave, Posting
from server.models.leaves import APPROVER_LEVELS
from server.services.policies import policy_for

OPEN = ("pending", "approved")


def posting_for(actor, posting_id, start_date, end_date):
    """The caller's posting the leave is from (named, or the one active then), which
    must cover every day of it."""
    if posting_id is None:
        posting = _default_posting(actor, start_date)
    else:
        posting = db.session.get(Posting, posting_id)
        if posting is None or posting.cadre_id != actor.id:
            raise Invalid(
                "posting_not_found",
                "No such posting of yours.",
                "您没有该驻村任职。",
                errors={"posting_id": ["Not a posting of yours."]},
            )
    field = None
    if posting.start_date > start_date:
        field = "start_date"
    elif posting.end_date is not None and posting.end_date < end_date:
        field = "end_date"
    if field is not None:
        raise Invalid(
            "outside_posting",
            f"The dates must lie within the posting ({posting.start_date} to "
            f"{posting.end_date or 'open end'}).",
            "请假日期须在任职期间内。",
            errors={field: ["Outside the posting's dates."]},
        )
    return posting


def _default_posting(actor, on_date):
    candidates = (
        db.session.execute(
            select(Posting)
            .where(
                Posting.cadre_id == actor.id,
                Posting.status == "active",
                Posting.start_date <= on_date,
                or_(Posting.end_date.is_(None), Posting.end_date >= on_date),
            )
            .order_by(Posting.id)
        )
        .scalars()
        .all()
    )
    if not candidates:
        raise Invalid(
            "no_active_posting",
            "You have no active posting on start_date.",
            "您在请假开始日没有在岗任职。",
            errors={"posting_id": ["No active posting covers start_date."]},
        )
    if len(candidates) > 1:
        raise Invalid(
            "posting_ambiguous",
            "You have several active postings then: name one with posting_id.",
            "您同时有多个在岗任职，请指定 posting_id。",
            errors={"posting_id": [f"One of {[p.id for p in candidates]}."]},
        )
    return candidates[0]


def lock(posting):
    """Requests for one posting take turns, so two overlapping ones cannot both pass the
    overlap check (FOR UPDATE on PostgreSQL; SQLite transactions begin IMMEDIATE)."""
    db.session.execute(select(Posting.id).where(Posting.id == posting.id).with_for_update())
    return posting


def refuse_overlap(posting, start_date, end_date):
    other = db.session.execute(
        select(Leave)
        .where(
            Leave.posting_id == posting.id,
            Leave.status.in_(OPEN),
            Leave.start_date <= end_date,
            Leave.end_date >= start_date,
            # Closed early: it ended the day before the cadre came back.
            or_(Leave.returned_on.is_(None), Leave.returned_on > start_date),
        )
        .order_by(Leave.start_date)
        .limit(1)
    ).scalar_one_or_none()
    if other is not None:
        raise Conflict(
            "leave_overlap",
            f"Leave {other.id} ({other.kind}, {other.start_date} to {other.end_date}, "
            f"{other.status}) overlaps these dates.",
            f"与已有的请假/报备（{other.start_date} 至 {other.end_date}）日期重叠。",
            errors={"leave_id": other.id},
        )


def approver_level(village, start_date, end_date):
    """The level the policy in force on `start_date` names for this many calendar days:
    the band with the smallest `max_days` that holds them (`null` holds any number)."""
    days = (end_date - start_date).days + 1
    bands = policy_for(village, start_date)["leave"]["approval_levels"]
    ordered = sorted(bands, key=lambda b: (b["max_days"] is None, b["max_days"] or 0))
    for band in ordered:
        if band["max_days"] is None or days <= band["max_days"]:
            return band["level"]
    # A policy without an open-ended band: beyond its last one, the most senior decides.
    return max((b["level"] for b in bands), key=APPROVER_LEVELS.index)


def ensure_level(actor, leave):
    if leave.cadre_id == actor.id:
        raise Forbidden("own_leave", "Nobody decides their own leave.", "不能审批本人的请假。")
    level = actor.jurisdiction.level
    rank = APPROVER_LEVELS.index(level) if level in APPROVER_LEVELS else -1
    if rank < APPROVER_LEVELS.index(leave.approver_level):
        raise Forbidden(
            "approver_level_required",
            f"This leave needs approval at {leave.approver_level} level or above.",
            "该请假须由更高一级审批。",
            errors={"approver_level": leave.approver_level, "your_level": level},
        )


def ensure_status(leave, status):
    if leave.status != status:
        raise Conflict(
            f"leave_not_{status}",
            f"The leave is {leave.status}, not {status}.",
            f"该请假当前状态为 {leave.status}，不能执行此操作。",
            errors={"status": leave.status},
        )


def excused(posting_id, day):
    """Whether an approved leave or duty trip of the posting covers the day (up to the
    return): an inspection that finds the cadre away then found no unexcused absence."""
    return (
        db.session.execute(
            select(Leave.id)
            .where(
                Leave.posting_id == posting_id,
                Leave.status == "approved",
                Leave.start_date <= day,
                Leave.end_date >= day,
                or_(Leave.returned_on.is_(None), Leave.returned_on > day),
            )
            .limit(1)
        ).first()
        is not None
    )
