"""Approved leave days counted inside the database, for the annual cap shown with each
leave and for the key stratum of draws (a province's postings in one aggregate).

A leave occupies its days from `start_date` to `end_date`, except that a leave closed
early (销假) ends the day before `returned_on`: the day back is a day present.
"""

from datetime import date, timedelta

from sqlalchemy import Integer, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from server.extensions import db
from server.models import Leave
from server.services.policies import policy_for


class days_between(FunctionElement):
    """`later - earlier` in whole days, for two date expressions."""

    type = Integer()
    inherit_cache = True
    name = "days_between"


@compiles(days_between)
def _days_between(element, compiler, **kw):
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"({later} - {earlier})"  # date - date is an integer on PostgreSQL


@compiles(days_between, "sqlite")
def _days_between_sqlite(element, compiler, **kw):
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


class least(FunctionElement):
    inherit_cache = True
    name = "least"


class greatest(FunctionElement):
    inherit_cache = True
    name = "greatest"


@compiles(least)
def _least(element, compiler, **kw):
    return f"LEAST({compiler.process(element.clauses, **kw)})"


@compiles(greatest)
def _greatest(element, compiler, **kw):
    return f"GREATEST({compiler.process(element.clauses, **kw)})"


@compiles(least, "sqlite")
def _least_sqlite(element, compiler, **kw):
    return f"min({compiler.process(element.clauses, **kw)})"  # min(a, b, ...) is scalar


@compiles(greatest, "sqlite")
def _greatest_sqlite(element, compiler, **kw):
    return f"max({compiler.process(element.clauses, **kw)})"


def days_in(first, last):
    """SQL: how many days of a leave fall within [first, last] (never negative). Every
    argument is non-null (SQLite's min() is null if any argument is)."""
    after_last = last + timedelta(days=1)
    start = greatest(Leave.start_date, first)
    days = least(
        days_between(Leave.end_date, start) + 1,
        days_between(func.coalesce(Leave.returned_on, after_last), start),
        days_between(after_last, start),
    )
    return greatest(days, 0)


def approved_days(group_by, first, last, *, at_least=None):
    """select(group_by, days): approved leave (kind `leave`, not duty trips) days within
    [first, last], summed per `group_by`; only groups with `at_least` days if given."""
    total = func.coalesce(func.sum(days_in(first, last)), 0)
    stmt = (
        select(group_by, total.label("days"))
        .where(
            Leave.status == "approved",
            Leave.kind == "leave",
            Leave.start_date <= last,
            Leave.end_date >= first,
        )
        .group_by(group_by)
    )
    return stmt if at_least is None else stmt.having(total >= at_least)


def annual(leave):
    """The cadre's approved leave days in the calendar year the leave begins in, against
    the cap of the policy in force at the village on that day."""
    year = leave.start_date.year
    first, last = date(year, 1, 1), date(year, 12, 31)
    stmt = approved_days(Leave.cadre_id, first, last).where(Leave.cadre_id == leave.cadre_id)
    row = db.session.execute(stmt).first()
    days = int(row.days) if row else 0
    cap = policy_for(leave.posting.village, leave.start_date)["leave"]["annual_cap_days"]
    return {
        "year": year,
        "approved_leave_days": days,
        "annual_cap_days": cap,
        "cap_exceeded": cap is not None and days > cap,
    }
