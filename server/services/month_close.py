"""Closing a month for a jurisdiction (its ledger frozen as a hashed snapshot) and
reopening it with a reason. Every version stays; `closures` guards what a standing
closure forbids."""

import hashlib

from sqlalchemy import func, select

from server import auth
from server.errors import Conflict, Invalid
from server.extensions import db
from server.models.attendance import MonthClosure
from server.models.checkins import ARRIVAL, Checkin, Flag
from server.models.leaves import Leave
from server.models.postings import Posting
from server.models.types import utcnow
from server.services import audit, ledger, rules, superseded
from server.services.closures import ensure_open, lock_for_close
from server.services.lookups import region_by_code


def close(*, actor, region_code, month):
    """Freeze `month`'s ledger for a jurisdiction: a canonical JSON snapshot and its hash.

    Only a month that is over, and only once every flag of it in the jurisdiction has
    been settled: a frozen ledger must not hold a day still awaiting a decision."""
    first, last = ledger.month_bounds(month)
    region = region_by_code(region_code, "region_code")
    auth.ensure_manages(actor, region)
    if last >= ledger.local_today():
        raise Conflict(
            "month_not_over",
            f"{month} is not over yet.",
            f"{month}尚未结束，不能关账。",
            errors={"month": month},
        )
    lock_for_close(region)
    ensure_open(region, first)
    open_flags = db.session.execute(
        select(func.count(Flag.id))
        .join(Checkin, Checkin.id == Flag.checkin_id)
        .where(
            Flag.status == "open",
            Checkin.kind != ARRIVAL,  # not attendance, and nobody reviews them
            Checkin.local_date.between(first, last),
            Checkin.village_id.in_(auth.subtree_ids(region.prefix)),
        )
    ).scalar_one()
    if open_flags:
        raise Conflict(
            "open_flags_remain",
            f"{open_flags} flags of {month} still await review; settle them first.",
            f"{month}尚有{open_flags}个异常标记未处理，请先审核。",
            errors={"open_flags": open_flags},
        )
    pending_leaves = db.session.execute(
        select(func.count(Leave.id))
        .join(Posting, Posting.id == Leave.posting_id)
        .where(
            Leave.status == "pending",
            Leave.start_date <= last,
            Leave.end_date >= first,
            Posting.village_id.in_(auth.subtree_ids(region.prefix)),
        )
    ).scalar_one()
    if pending_leaves:
        # Frozen, those days would stay absent even if the leave is approved.
        raise Conflict(
            "pending_leaves_remain",
            f"{pending_leaves} leave requests touching {month} await a decision; decide them"
            " first.",
            f"{month}尚有{pending_leaves}个请假申请待审批，请先审批。",
            errors={"pending_leaves": pending_leaves},
        )
    rows = ledger.month_ledger(actor=actor, month=month, region_code=region.code).rows
    frozen = [{k: v for k, v in row.items() if k not in ("closed", "closure_id")} for row in rows]
    version = (
        db.session.execute(
            select(func.max(MonthClosure.version)).where(
                MonthClosure.region_id == region.id, MonthClosure.month == month
            )
        ).scalar_one()
        or 0
    ) + 1
    snapshot = audit.canonical_json(
        {"month": month, "region_code": region.code, "version": version, "rows": frozen}
    )
    closure = MonthClosure(
        region=region,
        month=month,
        version=version,
        status="closed",
        snapshot=snapshot,
        snapshot_hash=hashlib.sha256(snapshot.encode()).hexdigest(),
        row_count=len(frozen),
        closed_by_id=actor.id,
    )
    db.session.add(closure)
    db.session.flush()
    audit.record(
        "month.close",
        closure,
        actor=actor,
        summary={
            "region": region.code,
            "month": month,
            "version": version,
            "snapshot_hash": closure.snapshot_hash,
            "rows": len(frozen),
        },
    )
    rules.run_for_month(closure, actor=actor)
    db.session.commit()
    return closure


def reopen(*, actor, closure_id, reason):
    """Reopen a closed month, with a reason. The frozen version stays, marked reopened."""
    closure = auth.get_visible(MonthClosure, closure_id, actor)
    auth.ensure_manages(actor, closure.region)
    if not (reason or "").strip():
        raise Invalid(
            "reason_required",
            "Say why the month is reopened.",
            "重新打开须说明理由。",
            errors={"reason": ["Required."]},
        )
    if closure.status != "closed":
        raise Conflict(
            "closure_not_standing",
            "This closure was already reopened.",
            "该关账记录已被重新打开。",
        )
    closure.status = "reopened"
    closure.reopened_by_id = actor.id
    closure.reopened_at = utcnow()
    closure.reopen_reason = reason.strip()
    audit.record(
        "month.reopen",
        closure,
        actor=actor,
        summary={"region": closure.region.code, "month": closure.month, "reason": reason},
    )
    # Its frozen rows no longer stand, nor do the proposals made from them.
    superseded.after_reopen(closure, actor=actor)
    db.session.commit()
    return closure


def get(*, actor, closure_id):
    return auth.get_visible(MonthClosure, closure_id, actor)


def list_(*, actor, region_code=None, month=None, status=None):
    stmt = auth.scoped(select(MonthClosure), MonthClosure, actor)
    if region_code:
        region = region_by_code(region_code, "region_code")
        stmt = stmt.where(MonthClosure.region_id.in_(auth.subtree_ids(region.prefix)))
    if month:
        ledger.month_bounds(month)
        stmt = stmt.where(MonthClosure.month == month)
    if status:
        stmt = stmt.where(MonthClosure.status == status)
    return stmt.order_by(MonthClosure.month.desc(), MonthClosure.region_id, MonthClosure.version)
