"""The calendar as the monthly ledger calls it: every day of a month resolved, at the
cost of one query (two for a year chinesecalendar does not know), and day ranges that
cross months and years."""

from contextlib import contextmanager
from datetime import date

import chinese_calendar
import pytest
from sqlalchemy import event

from server.errors import Conflict
from server.extensions import db
from server.models import CalendarDay, CalendarYear
from server.services import calendar


@contextmanager
def counted():
    seen = []

    def listener(*args):
        seen.append(args[2])

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)


def enter(world, day, working, name=None):
    db.session.add(CalendarDay(day=day, working=working, name=name, updated_by_id=world.admin.id))
    db.session.flush()


def publish(world, year):
    db.session.add(CalendarYear(year=year, published_by_id=world.admin.id))
    db.session.flush()


def test_the_package_range_is_read_from_its_data():
    years = calendar.package_years()
    assert years[0] == 2004 and years[-1] == 2026
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(years[-1] + 1, 1, 4))


def test_a_month_costs_one_query(world):
    enter(world, date(2026, 10, 12), False, "地方防汛")
    with counted() as statements:
        days = calendar.month_days(2026, 10)
    assert len(statements) == 1
    assert [d.day for d in days] == [date(2026, 10, n) for n in range(1, 32)]
    assert days[11].source == "admin" and days[12].source == "chinesecalendar"


def test_a_published_later_year_costs_two(world):
    publish(world, 2027)
    with counted() as statements:
        days = calendar.month_days(2027, 2)
    assert len(statements) == 2
    assert len(days) == 28 and {d.source for d in days} == {"weekday_rule"}
    assert sum(d.working for d in days) == 20


def test_a_month_entered_day_by_day_needs_no_published_year(world):
    for n in range(1, 31):
        enter(world, date(2027, 4, n), n % 7 not in (3, 4))
    assert all(d.source == "admin" for d in calendar.month_days(2027, 4))
    with pytest.raises(Conflict) as refused:
        calendar.month_days(2027, 5)
    assert refused.value.error == "calendar_year_missing" and refused.value.errors == {"year": 2027}


def test_a_range_across_the_year_end_needs_both_years(world):
    with pytest.raises(Conflict) as refused:
        calendar.days_between(date(2026, 12, 30), date(2027, 1, 2))
    assert refused.value.errors == {"year": 2027}
    publish(world, 2027)
    days = calendar.days_between(date(2026, 12, 30), date(2027, 1, 2))
    assert [(d.day.day, d.source) for d in days] == [
        (30, "chinesecalendar"),
        (31, "chinesecalendar"),
        (1, "weekday_rule"),
        (2, "weekday_rule"),
    ]


def test_a_range_inside_one_month(world):
    days = calendar.days_between(date(2026, 2, 14), date(2026, 2, 16))
    assert [(d.kind, d.name) for d in days] == [
        ("makeup_workday", "春节"),
        ("holiday", "春节"),
        ("holiday", "春节"),
    ]
