"""Closed months: a jurisdiction's ledger frozen as a hashed snapshot.

While a month stands closed for a village (a closure of the village or of any region
above it), nothing a reviewer decides may change that month's attendance there: review
decisions and leave decisions touching it are refused until someone reopens the month
with a reason. Evidence still arrives (a phone that was offline must be able to sync);
it simply does not alter the frozen ledger until a reopening recomputes it.
"""

from sqlalchemy import select

from server.errors import Conflict
from server.extensions import db
from server.models.attendance import MonthClosure
from server.models.regions import Region
from server.services.policies import ancestor_codes


def month_key(day):
    return f"{day.year:04d}-{day.month:02d}"


def standing_closure(region, month):
    """The closure that freezes `month` ('YYYY-MM') for `region`, if any (the one of
    the highest region when several levels closed it)."""
    return db.session.execute(
        select(MonthClosure)
        .join(Region, Region.id == MonthClosure.region_id)
        .where(
            Region.code.in_(ancestor_codes(region.code)),
            MonthClosure.month == month,
            MonthClosure.status == "closed",
        )
        .order_by(Region.code)
        .limit(1)
    ).scalar_one_or_none()


def lock_for_close(region):
    """Taken by a month close before it reads anything: waits for the decisions that
    found the month open (see `ensure_open`), and makes later ones wait for it."""
    db.session.execute(
        select(Region.id).where(Region.id == region.id).with_for_update(key_share=True)
    ).all()


def ensure_open(region, *days):
    """Refuse (409 `month_closed`) if any of `days` lies in a month closed for `region`.

    Holds the region and its ancestors FOR SHARE until the caller commits: closing a
    month locks its region FOR NO KEY UPDATE (`lock_for_close`), so a decision checked
    open here cannot commit into a month closed meanwhile, and a close waits for the
    decisions already past this check (SQLite serialises writers anyway)."""
    db.session.execute(
        select(Region.id)
        .where(Region.code.in_(ancestor_codes(region.code)))
        .order_by(Region.code)
        .with_for_update(read=True)
    ).all()
    for month in sorted({month_key(day) for day in days}):
        closure = standing_closure(region, month)
        if closure is not None:
            raise Conflict(
                "month_closed",
                f"{month} is closed for {closure.region.name}; reopen it first, with a reason.",
                f"{closure.region.name}{month}已关账，须先说明理由重新打开。",
                errors={"month": month, "closure_id": closure.id},
            )
