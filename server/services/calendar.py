"""The national working-day calendar: which days are working days.

For each day, in order of precedence: an administrator's entry (a local change, or a
year `chinesecalendar` does not know yet); else `chinesecalendar` (the State Council's
holidays and make-up working days for the years the package was released with); else,
once an administrator has published the year, the weekday rule. A day none of these
covers has no calendar: attendance cannot be judged without one, so asking for it is
an explicit error naming the year, never a silent guess.
"""

import calendar as gregorian
import functools
from dataclasses import dataclass
from datetime import date, timedelta

import chinese_calendar
from sqlalchemy import select

from server.errors import Conflict, Invalid, NotFound
from server.extensions import db
from server.models.attendance import MonthClosure
from server.models.policies import CalendarDay, CalendarYear
from server.services import audit
from server.services.closures import month_key

PACKAGE, ADMIN, WEEKDAY_RULE = "chinesecalendar", "admin", "weekday_rule"


@dataclass(frozen=True)
class Day:
    day: date
    working: bool
    kind: str  # workday, weekend, holiday, makeup_workday
    name: str | None
    source: str


@functools.cache
def package_years():
    """The years `chinesecalendar` has data for (it raises NotImplementedError outside)."""
    years = [day.year for day in chinese_calendar.holidays]
    return range(min(years), max(years) + 1)


def _weekend(day):
    return day.weekday() >= 5


def _holiday_name(english):
    return chinese_calendar.Holiday(english).chinese


def _from_package(day):
    # A make-up working day carries the name of the holiday it pays for.
    if day in chinese_calendar.workdays:
        name = _holiday_name(chinese_calendar.workdays[day])
        return Day(day, True, "makeup_workday", name, PACKAGE)
    if day in chinese_calendar.holidays:
        return Day(day, False, "holiday", _holiday_name(chinese_calendar.holidays[day]), PACKAGE)
    return _plain(day, PACKAGE)


def _plain(day, source):
    if _weekend(day):
        return Day(day, False, "weekend", None, source)
    return Day(day, True, "workday", None, source)


def _from_entry(entry):
    weekend = _weekend(entry.day)
    if entry.working:
        kind = "makeup_workday" if weekend else "workday"
    else:
        # A rest day on a weekend is an ordinary weekend unless the entry names it.
        kind = "weekend" if weekend and not entry.name else "holiday"
    return Day(entry.day, entry.working, kind, entry.name, ADMIN)


def missing_year(year):
    return Conflict(
        "calendar_year_missing",
        f"There is no working-day calendar for {year}. An administrator must enter "
        f"{year}'s holidays and make-up working days, then publish the year.",
        f"{year}年的工作日历尚未录入：请管理员录入该年的节假日和调休上班日，然后发布该年度。",
        errors={"year": year},
    )


def month_days(year, month):
    """Every day of the month, resolved. One query for the month's entries, and one
    more only for a year `chinesecalendar` does not know."""
    first = date(year, month, 1)
    last = first.replace(day=gregorian.monthrange(year, month)[1])
    entries = {
        entry.day: entry
        for entry in db.session.execute(
            select(CalendarDay).where(CalendarDay.day.between(first, last))
        ).scalars()
    }
    days = [first + timedelta(n) for n in range(last.day)]
    if year not in package_years() and len(entries) < len(days):
        if db.session.get(CalendarYear, year) is None:
            raise missing_year(year)
        resolve = functools.partial(_plain, source=WEEKDAY_RULE)
    else:
        resolve = _from_package
    return [_from_entry(entries[day]) if day in entries else resolve(day) for day in days]


def days_between(start, end):
    """Every day from `start` to `end` inclusive, resolved month by month."""
    days, cursor = [], start.replace(day=1)
    while cursor <= end:
        days += [d for d in month_days(cursor.year, cursor.month) if start <= d.day <= end]
        cursor = (cursor + timedelta(days=31)).replace(day=1)
    return days


def month_view(*, month):
    """A month ('YYYY-MM') for people: its days and how many are working days."""
    year, number = (int(part) for part in month.split("-"))
    days = month_days(year, number)
    return {"month": month, "working_days": sum(d.working for d in days), "days": days}


# ---------------------------------------------------------------- administration


def parse_day(text):
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None or not 2000 <= day.year < 2100:
        raise Invalid(
            "invalid_day",
            "The day must be a date YYYY-MM-DD between 2000 and 2099.",
            "日期格式应为 YYYY-MM-DD，且在 2000 至 2099 年之间。",
            errors={"day": ["Must be a date YYYY-MM-DD between 2000 and 2099."]},
        )
    return day


def _ensure_month_open(day):
    """The calendar is national: once any jurisdiction has closed a month, its days are
    frozen in that ledger, so they stay as they are until every closure is reopened."""
    month = month_key(day)
    closure = db.session.execute(
        select(MonthClosure)
        .where(MonthClosure.month == month, MonthClosure.status == "closed")
        .order_by(MonthClosure.id)
        .limit(1)
    ).scalar_one_or_none()
    if closure is not None:
        raise Conflict(
            "month_closed",
            f"{month} is closed for {closure.region.name}; reopen every closure of the "
            "month before changing its calendar.",
            f"{closure.region.name}{month}已关账，须先重新打开该月的所有关账才能修改日历。",
            errors={"month": month, "closure_id": closure.id},
        )


def _entry_summary(entry):
    return {"working": entry.working, "name": entry.name} if entry is not None else None


def set_day(*, actor, day, working, name=None):
    """Enter or replace the administrator's entry for one day."""
    day = parse_day(day)
    _ensure_month_open(day)
    entry = db.session.get(CalendarDay, day)
    before = _entry_summary(entry)
    if entry is None:
        entry = CalendarDay(day=day)
        db.session.add(entry)
    entry.working, entry.name, entry.updated_by_id = working, name, actor.id
    db.session.flush()
    audit.record(
        "calendar_day.set",
        object_type="calendar_day",
        object_id=day.isoformat(),
        actor=actor,
        summary={"before": before, "after": _entry_summary(entry)},
    )
    db.session.commit()
    return entry


def delete_day(*, actor, day):
    """Remove an entry: the day falls back to `chinesecalendar` or the weekday rule."""
    day = parse_day(day)
    entry = db.session.get(CalendarDay, day)
    if entry is None:
        raise NotFound(
            "calendar_day_not_found",
            f"There is no entry for {day}.",
            f"{day} 没有日历条目。",
        )
    _ensure_month_open(day)
    audit.record(
        "calendar_day.delete",
        object_type="calendar_day",
        object_id=day.isoformat(),
        actor=actor,
        summary={"before": _entry_summary(entry)},
    )
    db.session.delete(entry)
    db.session.commit()


def publish_year(*, actor, year, note=None):
    """Declare a year's holidays entered: its days without an entry follow the weekday
    rule from now on. Refused for a year `chinesecalendar` knows (its data already
    decides those days; local changes there are day entries)."""
    if year in package_years():
        raise Invalid(
            "calendar_year_known",
            f"{year} comes from chinesecalendar; change single days instead.",
            f"{year}年的日历来自 chinesecalendar，如需调整请修改具体日期。",
            errors={"year": [f"chinesecalendar already has {year}."]},
        )
    if db.session.get(CalendarYear, year) is not None:
        raise Conflict(
            "calendar_year_published",
            f"{year} is already published.",
            f"{year}年的日历已发布。",
            errors={"year": year},
        )
    db.session.add(CalendarYear(year=year, note=note, published_by_id=actor.id))
    db.session.flush()
    audit.record(
        "calendar_year.publish",
        object_type="calendar_year",
        object_id=year,
        actor=actor,
        summary={"year": year, "note": note},
    )
    db.session.commit()
    return next(row for row in list_years() if row["year"] == year)


def list_years():
    """Every year with a calendar or with entries: from chinesecalendar, published by
    an administrator, or entered but not yet published (`published` false)."""
    entries = {}
    for (day,) in db.session.execute(select(CalendarDay.day)):
        entries[day.year] = entries.get(day.year, 0) + 1
    published = {row.year: row for row in db.session.execute(select(CalendarYear)).scalars()}
    years = set(package_years()) | set(published) | set(entries)
    return [_year_row(year, published.get(year), entries.get(year, 0)) for year in sorted(years)]


def _year_row(year, row, entries):
    known = year in package_years()
    return {
        "year": year,
        "source": PACKAGE if known else ADMIN,
        "published": known or row is not None,
        "entries": entries,
        "note": row.note if row else None,
        "published_by_id": row.published_by_id if row else None,
        "published_at": row.published_at if row else None,
    }
