"""The working-day calendar over HTTP: chinesecalendar for the years it knows, the
administrator's entries on top, a published later year by the weekday rule, and a
year nobody entered as an explicit error."""

from datetime import date

import pytest

from server.extensions import db
from server.models import AuditEvent, CalendarDay, CalendarYear, MonthClosure
from tests.test_platform import assert_error

URL = "/api/v1/calendar"


def month(client, headers, value):
    return client.get(f"{URL}?month={value}", headers=headers)


def by_day(response):
    assert response.status_code == 200, response.json
    return {d["day"]: d for d in response.json["days"]}


def entry(client, headers, day, working, name=None):
    body = {"working": working} if name is None else {"working": working, "name": name}
    return client.put(f"{URL}/days/{day}", json=body, headers=headers)


def view(day, working, kind, name, source):
    return {"day": day, "working": working, "kind": kind, "name": name, "source": source}


@pytest.fixture
def admin(world, make):
    return make.headers(world.admin)


@pytest.fixture
def cadre(world, make):
    return make.headers(world.cadre_a)


def test_national_day_and_its_make_up_saturday(client, cadre):
    response = month(client, cadre, "2026-10")
    days = by_day(response)
    assert len(days) == 31
    assert response.json["month"] == "2026-10" and response.json["working_days"] == 18
    assert days["2026-10-01"] == view("2026-10-01", False, "holiday", "国庆节", "chinesecalendar")
    # Saturday 10 October 2026 is worked to pay for the long holiday.
    assert days["2026-10-10"] == view(
        "2026-10-10", True, "makeup_workday", "国庆节", "chinesecalendar"
    )
    assert days["2026-10-11"] == view("2026-10-11", False, "weekend", None, "chinesecalendar")
    assert days["2026-10-12"] == view("2026-10-12", True, "workday", None, "chinesecalendar")


def test_a_make_up_sunday(client, cadre):
    days = by_day(month(client, cadre, "2026-09"))
    assert days["2026-09-20"]["kind"] == "makeup_workday" and days["2026-09-20"]["working"]
    assert days["2026-09-19"]["kind"] == "weekend" and not days["2026-09-19"]["working"]


@pytest.mark.parametrize("value, year", [("2027-01", 2027), ("2003-06", 2003)])
def test_a_year_nobody_entered_is_an_explicit_error(client, cadre, value, year):
    response = month(client, cadre, value)
    assert_error(response, 409, "calendar_year_missing")
    assert response.json["errors"] == {"year": year}
    assert str(year) in response.json["message"] and "publish" in response.json["message"]


def test_the_administrator_enters_and_publishes_a_later_year(client, world, admin, cadre):
    holidays = {"2027-01-01": "元旦", "2027-02-08": "春节", "2027-02-09": "春节"}
    for day, name in holidays.items():
        response = entry(client, admin, day, False, name)
        assert response.status_code == 200, response.json
        assert response.json == {
            "day": day,
            "working": False,
            "name": name,
            "updated_by_id": world.admin.id,
            "updated_at": response.json["updated_at"],
        }
    assert entry(client, admin, "2027-02-06", True, "春节").status_code == 200
    # Entered but not published: days without an entry are still unknown.
    assert_error(month(client, cadre, "2027-01"), 409, "calendar_year_missing")
    years = {y["year"]: y for y in client.get(f"{URL}/years", headers=cadre).json}
    assert years[2027]["published"] is False and years[2027]["entries"] == 4

    published = client.post(
        f"{URL}/years", json={"year": 2027, "note": "国务院办公厅通知"}, headers=admin
    )
    assert published.status_code == 201, published.json
    assert published.json["year"] == 2027 and published.json["published"] is True
    assert published.json["source"] == "admin" and published.json["published_by_id"]
    assert db.session.get(CalendarYear, 2027).note == "国务院办公厅通知"

    january = by_day(month(client, cadre, "2027-01"))
    assert january["2027-01-01"] == view("2027-01-01", False, "holiday", "元旦", "admin")
    assert january["2027-01-02"] == view("2027-01-02", False, "weekend", None, "weekday_rule")
    assert january["2027-01-04"] == view("2027-01-04", True, "workday", None, "weekday_rule")
    february = by_day(month(client, cadre, "2027-02"))
    assert february["2027-02-06"] == view("2027-02-06", True, "makeup_workday", "春节", "admin")
    assert february["2027-02-08"]["kind"] == "holiday"
    assert february["2027-02-10"]["source"] == "weekday_rule"
    # 2028 is still nobody's.
    assert_error(month(client, cadre, "2028-01"), 409, "calendar_year_missing")


def test_the_years_say_where_each_calendar_comes_from(client, admin, cadre):
    client.post(f"{URL}/years", json={"year": 2030}, headers=admin)
    years = {y["year"]: y for y in client.get(f"{URL}/years", headers=cadre).json}
    assert years[2026]["source"] == "chinesecalendar" and years[2026]["published"] is True
    assert years[2004]["source"] == "chinesecalendar"
    assert years[2030]["source"] == "admin" and years[2030]["entries"] == 0
    assert 2027 not in years and 2003 not in years


def test_a_local_change_overrides_chinesecalendar_until_removed(client, admin, cadre):
    response = entry(client, admin, "2026-10-12", False, "地方防汛")
    assert response.status_code == 200
    assert db.session.get(CalendarDay, date(2026, 10, 12)).working is False
    changed = by_day(month(client, cadre, "2026-10"))
    assert changed["2026-10-12"] == view("2026-10-12", False, "holiday", "地方防汛", "admin")
    # The make-up Saturday given back as a rest day is an ordinary weekend again.
    entry(client, admin, "2026-10-10", False)
    changed = month(client, cadre, "2026-10")
    assert by_day(changed)["2026-10-10"] == view("2026-10-10", False, "weekend", None, "admin")
    assert changed.json["working_days"] == 16

    # A second PUT replaces the entry.
    entry(client, admin, "2026-10-12", True)
    assert by_day(month(client, cadre, "2026-10"))["2026-10-12"]["source"] == "admin"
    assert client.delete(f"{URL}/days/2026-10-12", headers=admin).status_code == 204
    assert by_day(month(client, cadre, "2026-10"))["2026-10-12"]["source"] == "chinesecalendar"
    assert_error(
        client.delete(f"{URL}/days/2026-10-12", headers=admin), 404, "calendar_day_not_found"
    )


def test_every_write_is_audited(client, world, admin):
    entry(client, admin, "2026-10-12", False, "地方防汛")
    entry(client, admin, "2026-10-12", True)
    client.delete(f"{URL}/days/2026-10-12", headers=admin)
    client.post(f"{URL}/years", json={"year": 2027}, headers=admin)
    events = (
        db.session.execute(
            db.select(AuditEvent)
            .where(AuditEvent.action.startswith("calendar_"))
            .order_by(AuditEvent.seq)
        )
        .scalars()
        .all()
    )
    assert [(e.action, e.object_id, e.actor_id) for e in events] == [
        ("calendar_day.set", "2026-10-12", world.admin.id),
        ("calendar_day.set", "2026-10-12", world.admin.id),
        ("calendar_day.delete", "2026-10-12", world.admin.id),
        ("calendar_year.publish", "2027", world.admin.id),
    ]
    assert events[0].summary == {"before": None, "after": {"working": False, "name": "地方防汛"}}
    assert events[1].summary["before"] == {"working": False, "name": "地方防汛"}
    assert events[2].summary == {"before": {"working": True, "name": None}}


def test_publishing_twice_or_a_known_year_is_refused(client, admin):
    assert client.post(f"{URL}/years", json={"year": 2027}, headers=admin).status_code == 201
    assert_error(
        client.post(f"{URL}/years", json={"year": 2027}, headers=admin),
        409,
        "calendar_year_published",
    )
    assert_error(
        client.post(f"{URL}/years", json={"year": 2026}, headers=admin), 422, "calendar_year_known"
    )
    assert db.session.get(CalendarYear, 2026) is None


@pytest.mark.parametrize(
    "body", [{}, {"year": 1999}, {"year": "2027"}, {"year": 2027.5}, {"year": 2027, "x": 1}]
)
def test_invalid_years_are_422(client, admin, body):
    assert_error(client.post(f"{URL}/years", json=body, headers=admin), 422, "validation_error")


@pytest.mark.parametrize(
    "body",
    [{}, {"working": "yes"}, {"working": 1}, {"working": True, "name": "x" * 51}, {"x": 1}],
)
def test_invalid_entries_are_422(client, admin, body):
    response = client.put(f"{URL}/days/2026-10-12", json=body, headers=admin)
    assert_error(response, 422, "validation_error")
    assert db.session.execute(db.select(CalendarDay)).first() is None


@pytest.mark.parametrize("day", ["2026-02-30", "tomorrow", "20261012", "1999-12-31", "2026-10-1"])
def test_a_malformed_day_is_422(client, admin, day):
    response = entry(client, admin, day, False)
    assert_error(response, 422, "invalid_day")
    assert_error(client.delete(f"{URL}/days/{day}", headers=admin), 422, "invalid_day")


@pytest.mark.parametrize("value", ["2026-13", "2026-1", "26-01", "1999-12", "2026-10-01", ""])
def test_a_malformed_month_is_422(client, cadre, value):
    assert_error(month(client, cadre, value), 422, "validation_error")


def test_a_month_is_required(client, cadre):
    assert_error(client.get(URL, headers=cadre), 422, "validation_error")


@pytest.mark.parametrize("caller", ["reviewer_a", "city_reviewer", "inspector_a", "cadre_a"])
def test_only_administrators_change_the_calendar(client, world, make, admin, caller):
    entry(client, admin, "2026-10-12", False, "地方防汛")
    headers = make.headers(getattr(world, caller))
    assert_error(entry(client, headers, "2026-10-13", False), 403, "role_required")
    assert_error(client.delete(f"{URL}/days/2026-10-12", headers=headers), 403, "role_required")
    assert_error(
        client.post(f"{URL}/years", json={"year": 2027}, headers=headers), 403, "role_required"
    )
    assert db.session.get(CalendarYear, 2027) is None
    assert len(db.session.execute(db.select(CalendarDay)).all()) == 1
    # Everyone may read it.
    assert month(client, headers, "2026-10").status_code == 200
    assert client.get(f"{URL}/years", headers=headers).status_code == 200


def test_a_month_closed_anywhere_freezes_its_days(client, world, admin):
    entry(client, admin, "2026-10-12", False, "地方防汛")
    closure = MonthClosure(
        region=world.village_b1,
        month="2026-10",
        version=1,
        status="closed",
        snapshot="{}",
        snapshot_hash="0" * 64,
        row_count=0,
        closed_by_id=world.admin.id,
    )
    db.session.add(closure)
    db.session.commit()
    refused = entry(client, admin, "2026-10-13", False)
    assert_error(refused, 409, "month_closed")
    assert refused.json["errors"] == {"month": "2026-10", "closure_id": closure.id}
    assert_error(client.delete(f"{URL}/days/2026-10-12", headers=admin), 409, "month_closed")
    assert entry(client, admin, "2026-11-02", False, "地方假日").status_code == 200
    closure.status = "reopened"
    db.session.commit()
    assert entry(client, admin, "2026-10-13", False).status_code == 200
