"""The monthly ledger: every counting rule, day by day, on both databases.

March 2026 has 22 working days and 9 weekend days (no holidays); October 2026 has the
National Day holidays (1-7 October, in chinesecalendar's data) and a make-up working day
on Saturday 10 October. Today (the test machine's date) lies after both months unless a
test says otherwise.
"""

import os
import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.extensions import db
from server.models import Checkin, Finding, Leave, MonthClosure, Policy
from server.models.draws import Assignment, Draw
from tests.test_platform import assert_error

MARCH = "2026-03"
MARCH_WORKDAYS = [date(2026, 3, d) for d in range(1, 32) if date(2026, 3, d).weekday() < 5]


def present(make, posting, days, *, at=time(9, 0), verdict="accepted", **extra):
    rows = []
    for day in days:
        captured = datetime.combine(day, at, tzinfo=UTC) - timedelta(hours=8)
        rows.append(
            make.checkin(
                posting,
                local_date=day,
                local_time=at,
                captured_at=captured,
                verdict=verdict,
                **extra,
            )
        )
    return rows


def leave(posting, start, end, *, kind="leave", status="approved", returned_on=None):
    row = Leave(
        posting=posting,
        cadre_id=posting.cadre_id,
        kind=kind,
        start_date=start,
        end_date=end,
        reason="家中有事",
        status=status,
        approver_level="township",
        returned_on=returned_on,
    )
    db.session.add(row)
    db.session.flush()
    return row


def policy(make, region, rules, *, effective=date(2026, 1, 1), by=None):
    row = Policy(
        region=region,
        version=1 + len(db.session.execute(db.select(Policy.id)).all()),
        effective_from=effective,
        rules=rules,
        created_by_id=(by or make.user("admin")).id,
    )
    db.session.add(row)
    db.session.flush()
    return row


def ledger(client, make, user, month=MARCH, **params):
    response = client.get(
        "/api/v1/attendance",
        query_string={"month": month, "page_size": 200, **params},
        headers=make.headers(user),
    )
    assert response.status_code == 200, response.json
    return {row["posting_id"]: row for row in response.json}


def row_of(client, make, world, posting, month=MARCH):
    return ledger(client, make, world.admin, month)[posting.id]


# ------------------------------------------------------------------ counting days


def test_a_full_month_in_the_village_meets_the_minimum(client, make, world):
    present(make, world.posting_a, MARCH_WORKDAYS)
    row = row_of(client, make, world, world.posting_a)
    assert row["days_present"] == 22 and row["days_rest"] == 9
    assert row["days_absent"] == 0 and row["days_unknown"] == 0
    assert row["required_days"] == 20 and row["days_counted"] == 22
    assert row["status"] == "met" and row["minimum_met"] is True
    assert row["day_codes"] == "".join(
        "P" if date(2026, 3, d).weekday() < 5 else "R" for d in range(1, 32)
    )
    assert row["cadre_name"] == "张伟" and row["county_name"] == "凤台县"
    assert row["township_name"] == "城关镇" and row["standard"] == "days"


def test_several_checkins_on_one_day_count_once(client, make, world):
    day = date(2026, 3, 2)
    present(make, world.posting_a, [day, day, day])
    row = row_of(client, make, world, world.posting_a)
    assert row["days_present"] == 1
    assert row["days_absent"] == 21


def test_the_checkins_behind_each_day_are_listed(client, make, world):
    first, second = present(make, world.posting_a, [date(2026, 3, 2), date(2026, 3, 2)])
    row = row_of(client, make, world, world.posting_a)
    assert row["checkins_by_day"] == {"2026-03-02": [first.id, second.id]}


def test_only_presence_checkins_in_the_month_count(client, make, world):
    present(make, world.posting_a, [date(2026, 3, 2)], kind="departure")
    present(make, world.posting_a, [date(2026, 2, 27), date(2026, 4, 1)])
    row = row_of(client, make, world, world.posting_a)
    assert row["days_present"] == 0 and row["days_absent"] == 22


def test_rejected_and_pending_checkins(client, make, world):
    days = MARCH_WORKDAYS
    present(make, world.posting_a, days[:18])
    flagged = present(make, world.posting_a, days[18:20], verdict="flagged")
    present(make, world.posting_a, days[20:], verdict="rejected")
    row = row_of(client, make, world, world.posting_a)
    assert (row["days_present"], row["days_pending"], row["days_absent"]) == (18, 2, 2)
    # 18 counted + 2 awaiting review could still reach 20: not decided yet.
    assert row["status"] == "open" and row["minimum_met"] is None

    for checkin in flagged:
        checkin.review_decision = "accepted"
    db.session.flush()
    row = row_of(client, make, world, world.posting_a)
    assert (row["days_present"], row["days_pending"]) == (20, 0)
    assert row["status"] == "met"


def test_a_reviewer_rejection_overrides_an_accepted_verdict(client, make, world):
    (checkin,) = present(make, world.posting_a, [date(2026, 3, 2)])
    checkin.review_decision = "rejected"
    db.session.flush()
    row = row_of(client, make, world, world.posting_a)
    assert row["days_present"] == 0 and row["day_codes"][1] == "A"


def test_below_the_minimum_is_not_met(client, make, world):
    present(make, world.posting_a, MARCH_WORKDAYS[:19])
    row = row_of(client, make, world, world.posting_a)
    assert row["days_counted"] == 19 and row["days_absent"] == 3
    assert row["status"] == "not_met" and row["minimum_met"] is False


# ------------------------------------------------------------------ leave and duty trips


def test_leave_is_excused_and_duty_trips_count_as_present(client, make, world):
    days = MARCH_WORKDAYS
    present(make, world.posting_a, days[:15])
    leave(world.posting_a, days[15], days[16])
    leave(world.posting_a, days[17], days[19], kind="duty_trip")
    row = row_of(client, make, world, world.posting_a)
    assert (row["days_present"], row["days_leave"], row["days_duty_trip"]) == (15, 2, 3)
    assert row["days_absent"] == 2
    assert row["days_excused"] == 2 + 3 + 9
    assert row["days_counted"] == 18 and row["status"] == "not_met"
    codes = row["day_codes"]
    assert codes[days[15].day - 1] == "L" and codes[days[17].day - 1] == "T"


def test_pending_rejected_and_cancelled_leave_excuses_nothing(client, make, world):
    for status in ("pending", "rejected", "cancelled"):
        leave(world.posting_a, date(2026, 3, 2), date(2026, 3, 3), status=status)
    row = row_of(client, make, world, world.posting_a)
    assert row["days_leave"] == 0 and row["days_absent"] == 22


def test_leave_cut_short_by_the_return_counts_only_until_then(client, make, world):
    leave(world.posting_a, date(2026, 3, 2), date(2026, 3, 6), returned_on=date(2026, 3, 4))
    present(make, world.posting_a, [date(2026, 3, 4)])
    row = row_of(client, make, world, world.posting_a)
    assert row["day_codes"][1:6] == "LLPAA"


def test_presence_on_a_leave_day_counts_as_present(client, make, world):
    leave(world.posting_a, date(2026, 3, 2), date(2026, 3, 3))
    present(make, world.posting_a, [date(2026, 3, 3)])
    row = row_of(client, make, world, world.posting_a)
    assert row["day_codes"][1:3] == "LP" and row["days_leave"] == 1


def test_a_policy_that_does_not_count_duty_trips(client, make, world):
    policy(make, world.county_a, {"attendance": {"duty_trips_count_as_present": False}})
    leave(world.posting_a, date(2026, 3, 2), date(2026, 3, 6), kind="duty_trip")
    row = row_of(client, make, world, world.posting_a)
    assert row["days_duty_trip"] == 5 and row["days_counted"] == 0


def test_leave_days_in_the_year_against_the_cap(client, make, world):
    leave(world.posting_a, date(2026, 1, 5), date(2026, 1, 30))  # 26 days
    leave(world.posting_a, date(2026, 3, 2), date(2026, 3, 6))  # 5 more
    leave(world.posting_a, date(2026, 3, 9), date(2026, 3, 13), kind="duty_trip")
    row = row_of(client, make, world, world.posting_a)
    assert row["leave_days_year"] == 31 and row["annual_leave_cap"] == 30
    assert row["over_annual_leave_cap"] is True


# ------------------------------------------------------------------ calendar


def test_holidays_are_rest_days_and_make_up_working_days_are_working_days(client, make, world):
    october = [date(2026, 10, d) for d in range(8, 32)]
    skipped = (date(2026, 10, 10), date(2026, 10, 11))
    present(make, world.posting_a, [d for d in october if d not in skipped])
    row = row_of(client, make, world, world.posting_a, "2026-10")
    codes = row["day_codes"]
    assert codes[:7] == "RRRRRRR"  # National Day holidays, weekend or not
    assert codes[9] == "A"  # Saturday 10 October is a make-up working day
    assert codes[10] == "R"  # an ordinary Sunday
    assert row["days_absent"] == 1


def test_a_policy_that_does_not_excuse_rest_days(client, make, world):
    policy(make, world.county_a, {"attendance": {"holidays_excused": False}})
    present(make, world.posting_a, MARCH_WORKDAYS)
    row = row_of(client, make, world, world.posting_a)
    assert row["days_rest"] == 0 and row["days_absent"] == 9


def test_a_month_of_a_year_without_a_calendar_is_an_explicit_error(client, make, world):
    response = client.get(
        "/api/v1/attendance", query_string={"month": "2031-01"}, headers=make.headers(world.admin)
    )
    assert response.status_code == 409
    assert response.json["error"] == "calendar_year_missing"
    assert "2031" in response.json["message"] and response.json["message_zh"]


# ------------------------------------------------------------------ policies


def test_the_overnight_rule_needs_an_evening_and_the_next_morning(client, make, world):
    policy(make, world.county_a, {"attendance": {"counting_rule": "overnight"}})
    posting = world.posting_a
    # 2 March: evening and 3 March morning: 2 March counts.
    present(make, posting, [date(2026, 3, 2)], at=time(20, 30))
    present(make, posting, [date(2026, 3, 3)], at=time(7, 45))
    # 4 March: only a midday check-in: does not count.
    present(make, posting, [date(2026, 3, 4)], at=time(12, 0))
    # 31 March evening and 1 April morning: the month's last night counts.
    present(make, posting, [date(2026, 3, 31)], at=time(19, 0))
    present(make, posting, [date(2026, 4, 1)], at=time(8, 0))
    row = row_of(client, make, world, posting)
    codes = row["day_codes"]
    # 3 and 4 March: in the village, but without an evening and the next morning: not
    # counted toward the minimum, and not absent either.
    assert codes[1] == "P" and codes[2] == "N" and codes[3] == "N" and codes[30] == "P"
    assert codes[4] == "A"
    assert row["days_present"] == 2 and row["days_not_counted"] == 2


def test_the_policy_in_force_on_each_day_decides_that_day(client, make, world):
    policy(
        make,
        world.county_a,
        {"attendance": {"counting_rule": "overnight"}},
        effective=date(2026, 3, 16),
    )
    present(make, world.posting_a, [date(2026, 3, 2), date(2026, 3, 16)], at=time(12, 0))
    codes = row_of(client, make, world, world.posting_a)["day_codes"]
    assert codes[1] == "P" and codes[15] == "N"


def test_a_county_minimum_applies_to_its_villages_only(client, make, world):
    policy(make, world.county_a, {"attendance": {"min_days_per_month": 15}})
    rows = ledger(client, make, world.admin)
    assert rows[world.posting_a.id]["required_days"] == 15
    assert rows[world.posting_b.id]["required_days"] == 20


def test_without_a_daily_duty_silence_is_unknown_not_absence(client, make, world):
    policy(make, world.county_a, {"checkin": {"duty": "weekly"}})
    present(make, world.posting_a, MARCH_WORKDAYS[:5])
    row = row_of(client, make, world, world.posting_a)
    assert row["days_absent"] == 0 and row["days_unknown"] == 17
    assert row["status"] == "undetermined" and row["minimum_met"] is None


def test_a_posting_that_starts_mid_month_is_prorated(client, make, world):
    posting = make.posting(
        world.aid_cadre_a, world.village_a2, world.unit_a, start=date(2026, 3, 17)
    )
    row = row_of(client, make, world, posting)
    assert row["days_posted"] == 15 and row["required_days"] == 10  # ceil(20 * 15 / 31)
    assert row["day_codes"][:16] == "-" * 16


def test_the_current_month_is_open_with_the_rest_not_over_yet(client, make, world):
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the jurisdiction's day
    month = f"{today.year:04d}-{today.month:02d}"
    row = row_of(client, make, world, world.posting_a, month)
    assert row["status"] in ("open", "not_met")
    assert row["day_codes"][today.day - 1] == "U"
    assert "A" not in row["day_codes"][today.day - 1 :]


# ------------------------------------------------------------------ aid cadres, findings


def test_paired_aid_cadres_are_judged_by_household_visits(client, make, world):
    posting = make.posting(world.aid_cadre_a, world.village_a2, world.unit_a, role="paired_aid")
    second = make.household(world.village_a2, world.aid_cadre_a)
    present(
        make,
        posting,
        [date(2026, 3, 5)],
        kind="household_visit",
        household_id=world.household_a.id,
    )
    row = row_of(client, make, world, posting)
    assert row["standard"] == "household_visits"
    # Judged by visits, not days: a day without a check-in is no absence.
    assert row["days_absent"] == 0 and "A" not in row["day_codes"]
    assert (row["households_paired"], row["households_visited"]) == (2, 1)
    assert row["status"] == "not_met"
    present(make, posting, [date(2026, 3, 9)], kind="household_visit", household_id=second.id)
    assert row_of(client, make, world, posting)["status"] == "met"


def test_household_visit_frequency_comes_from_the_policy(client, make, world):
    policy(make, world.county_a, {"household_visits": {"per_household_per_month": 2}})
    posting = make.posting(world.aid_cadre_a, world.village_a2, world.unit_a, role="paired_aid")
    visit = {"kind": "household_visit", "household_id": world.household_a.id}
    present(make, posting, [date(2026, 3, 5)], **visit)
    assert row_of(client, make, world, posting)["households_visited"] == 0
    present(make, posting, [date(2026, 3, 19)], **visit)
    assert row_of(client, make, world, posting)["households_visited"] == 1


def _finding(make, world, posting, outcome, observed, *, status="final"):
    draw = Draw(
        owner=world.reviewer_a,
        scope=world.county_a,
        kind="visit",
        mode="commit-reveal",
        status="executed",
        window_start=observed - timedelta(days=1),
        window_end=observed + timedelta(days=1),
        parameters={},
        frame="{}",
        frame_hash="0" * 64,
        salt="0" * 64,
        beacon_spec={},
    )
    db.session.add(draw)
    db.session.flush()
    assignment = Assignment(
        draw=draw, posting=posting, village_id=posting.village_id, rank=0, stratum="s"
    )
    db.session.add(assignment)
    db.session.flush()
    finding = Finding(
        assignment_id=assignment.id,
        outcome=outcome,
        observed_at=observed,
        created_by_id=world.inspector_a.id,
        status=status,
    )
    db.session.add(finding)
    db.session.flush()
    return finding


def test_final_inspection_findings_are_counted(client, make, world):
    at = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 in Anhui
    _finding(make, world, world.posting_a, "absent", at)
    _finding(make, world, world.posting_a, "present", at + timedelta(days=5))
    _finding(make, world, world.posting_a, "absent", at, status="draft")
    row = row_of(client, make, world, world.posting_a)
    assert (row["findings_total"], row["findings_absent"]) == (2, 1)


def test_open_flags_are_counted(client, make, world):
    from server.models import Flag

    (checkin,) = present(make, world.posting_a, [date(2026, 3, 2)], verdict="flagged")
    db.session.add(Flag(checkin=checkin, code="outside_geofence", severity="high", details={}))
    db.session.flush()
    assert row_of(client, make, world, world.posting_a)["pending_flags"] == 1


# ------------------------------------------------------------------ scope and filters


def test_a_reviewer_sees_only_their_jurisdiction(client, make, world):
    assert set(ledger(client, make, world.reviewer_b)) == {world.posting_b.id}
    assert set(ledger(client, make, world.city_reviewer)) == {
        world.posting_a.id,
        world.posting_b.id,
    }


def test_filters_by_region_unit_and_status(client, make, world):
    present(make, world.posting_a, MARCH_WORKDAYS)
    admin = world.admin
    assert set(ledger(client, make, admin, region=world.county_b.code)) == {world.posting_b.id}
    assert set(ledger(client, make, admin, unit=world.unit_a.id)) == {world.posting_a.id}
    assert set(ledger(client, make, admin, status="met")) == {world.posting_a.id}
    assert set(ledger(client, make, admin, status="not_met")) == {world.posting_b.id}


def test_postings_outside_the_month_are_not_listed(client, make, world):
    ended = make.posting(
        world.aid_cadre_a,
        world.village_a2,
        world.unit_a,
        start=date(2025, 1, 1),
        end=date(2026, 2, 28),
        status="ended",
    )
    assert ended.id not in ledger(client, make, world.admin)


@pytest.mark.parametrize("who", ["cadre_a", "inspector_a"])
def test_cadres_and_inspectors_cannot_read_the_ledger(client, make, world, who):
    response = client.get(
        "/api/v1/attendance",
        query_string={"month": MARCH},
        headers=make.headers(getattr(world, who)),
    )
    assert response.status_code == 403


@pytest.mark.parametrize("month", ["2026-13", "2026-3", "March", "1999-12"])
def test_a_bad_month_is_422(client, make, world, month):
    response = client.get(
        "/api/v1/attendance", query_string={"month": month}, headers=make.headers(world.admin)
    )
    assert response.status_code == 422


def test_summary_by_county_and_by_unit(client, make, world):
    present(make, world.posting_a, MARCH_WORKDAYS)
    headers = make.headers(world.city_reviewer)
    by_county = client.get(
        "/api/v1/attendance/summary", query_string={"month": MARCH}, headers=headers
    ).json
    assert [(e["key"], e["met"], e["not_met"], e["compliance"]) for e in by_county] == [
        (world.county_a.code, 1, 0, 1.0),
        (world.county_b.code, 0, 1, 0.0),
    ]
    by_unit = client.get(
        "/api/v1/attendance/summary", query_string={"month": MARCH, "by": "unit"}, headers=headers
    ).json
    assert {e["name"]: e["postings"] for e in by_unit} == {"凤台县财政局": 1, "寿县教育局": 1}


# ------------------------------------------------------------------ one posting's month


def test_a_postings_month_day_by_day_with_its_evidence(client, make, world):
    (checkin,) = present(make, world.posting_a, [date(2026, 3, 2)], at=time(8, 30))
    sick = leave(world.posting_a, date(2026, 3, 3), date(2026, 3, 3))
    response = client.get(
        f"/api/v1/attendance/{world.posting_a.id}/{MARCH}", headers=make.headers(world.cadre_a)
    )
    assert response.status_code == 200
    days = response.json["days"]
    assert len(days) == 31 and days[0] == {
        "day": "2026-03-01",
        "code": "R",
        "working": False,
        "kind": "weekend",
        "checkins": [],
        "leave_ids": [],
        "finding_ids": [],
    }
    assert days[1]["code"] == "P" and days[1]["checkins"][0]["id"] == checkin.id
    assert days[1]["checkins"][0]["local_time"] == "08:30:00"
    assert days[2]["code"] == "L" and days[2]["leave_ids"] == [sick.id]
    assert response.json["row"]["days_present"] == 1


def test_a_postings_month_is_404_out_of_scope(client, make, world):
    response = client.get(
        f"/api/v1/attendance/{world.posting_a.id}/{MARCH}", headers=make.headers(world.cadre_b)
    )
    assert response.status_code == 404 and response.json["error"] == "posting_not_found"


def test_a_month_the_posting_did_not_serve_is_422(client, make, world):
    response = client.get(
        f"/api/v1/attendance/{world.posting_a.id}/2025-06", headers=make.headers(world.admin)
    )
    assert response.status_code == 422 and response.json["error"] == "not_posted_in_month"


# ------------------------------------------------------------------ closing a month


def close(client, make, user, region, month=MARCH):
    return client.post(
        "/api/v1/attendance/closures",
        json={"region_code": region.code, "month": month},
        headers=make.headers(user),
    )


def test_closing_a_month_freezes_the_ledger_with_its_hash(client, make, world):
    import hashlib
    import json

    from server.models import AuditEvent

    present(make, world.posting_a, MARCH_WORKDAYS[:10])
    response = close(client, make, world.reviewer_a, world.county_a)
    assert response.status_code == 201, response.json
    closure = response.json
    assert closure["version"] == 1 and closure["status"] == "closed"
    assert closure["row_count"] == 1 and closure["snapshot_intact"] is True
    assert hashlib.sha256(closure["snapshot"].encode()).hexdigest() == closure["snapshot_hash"]
    frozen = json.loads(closure["snapshot"])["rows"][0]
    assert frozen["posting_id"] == world.posting_a.id and frozen["days_present"] == 10

    # Evidence that arrives later (a phone that was offline) does not move the frozen month.
    present(make, world.posting_a, MARCH_WORKDAYS[10:])
    row = row_of(client, make, world, world.posting_a)
    assert row["days_present"] == 10 and row["closed"] is True
    assert row["closure_id"] == closure["id"]
    # County B was not closed: its row is live.
    assert row_of(client, make, world, world.posting_b)["closed"] is False
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "month.close")
    ).scalar_one()
    assert event.summary["snapshot_hash"] == closure["snapshot_hash"]


def test_reopening_needs_a_reason_and_keeps_both_versions(client, make, world):
    present(make, world.posting_a, MARCH_WORKDAYS[:10])
    first = close(client, make, world.reviewer_a, world.county_a).json
    present(make, world.posting_a, MARCH_WORKDAYS[10:])
    headers = make.headers(world.reviewer_a)
    url = f"/api/v1/attendance/closures/{first['id']}/reopen"
    assert client.post(url, json={"reason": " "}, headers=headers).status_code == 422
    assert client.post(url, json={}, headers=headers).status_code == 422
    reopened = client.post(url, json={"reason": "补录离线打卡"}, headers=headers)
    assert reopened.status_code == 200
    assert (
        reopened.json["status"] == "reopened" and reopened.json["reopen_reason"] == "补录离线打卡"
    )
    assert client.post(url, json={"reason": "again"}, headers=headers).status_code == 409

    assert row_of(client, make, world, world.posting_a)["days_present"] == 22  # live again
    second = close(client, make, world.reviewer_a, world.county_a).json
    assert second["version"] == 2 and second["snapshot_hash"] != first["snapshot_hash"]
    versions = client.get(
        "/api/v1/attendance/closures", query_string={"month": MARCH}, headers=headers
    ).json
    assert [(v["version"], v["status"]) for v in versions] == [(1, "reopened"), (2, "closed")]


def test_a_month_cannot_be_closed_twice_or_under_a_higher_closure(client, make, world):
    assert close(client, make, world.city_reviewer, world.city).status_code == 201
    for user, region in ((world.city_reviewer, world.city), (world.reviewer_a, world.county_a)):
        response = close(client, make, user, region)
        assert response.status_code == 409 and response.json["error"] == "month_closed"


def test_a_city_closure_freezes_a_county_closed_before(client, make, world):
    present(make, world.posting_a, MARCH_WORKDAYS[:3])
    county = close(client, make, world.reviewer_a, world.county_a).json
    present(make, world.posting_a, MARCH_WORKDAYS[3:6])
    city = close(client, make, world.city_reviewer, world.city).json
    rows = {r["posting_id"]: r for r in __import__("json").loads(city["snapshot"])["rows"]}
    assert rows[world.posting_a.id]["days_present"] == 3  # the county's frozen figure
    assert row_of(client, make, world, world.posting_a)["closure_id"] == city["id"]
    assert county["id"] != city["id"]


def test_a_month_not_over_cannot_be_closed(client, make, world):
    response = close(client, make, world.reviewer_a, world.county_a, "2026-11")
    assert response.status_code == 409 and response.json["error"] == "month_not_over"


def test_open_flags_must_be_settled_before_closing(client, make, world):
    from server.models import Flag

    (checkin,) = present(make, world.posting_a, [date(2026, 3, 2)], verdict="flagged")
    db.session.add(Flag(checkin=checkin, code="mock_location", severity="high", details={}))
    db.session.flush()
    response = close(client, make, world.reviewer_a, world.county_a)
    assert response.status_code == 409 and response.json["error"] == "open_flags_remain"
    assert response.json["errors"] == {"open_flags": 1}
    # County B has no open flag: it can close.
    assert close(client, make, world.reviewer_b, world.county_b).status_code == 201


def test_closing_outside_ones_jurisdiction_is_forbidden(client, make, world):
    assert close(client, make, world.reviewer_b, world.county_a).status_code == 403
    closure = close(client, make, world.reviewer_a, world.county_a).json
    other = make.headers(world.reviewer_b)
    assert (
        client.get(f"/api/v1/attendance/closures/{closure['id']}", headers=other).status_code == 404
    )
    reopen = client.post(
        f"/api/v1/attendance/closures/{closure['id']}/reopen", json={"reason": "x"}, headers=other
    )
    assert reopen.status_code == 404
    assert db.session.get(MonthClosure, closure["id"]).status == "closed"


def test_a_closed_month_refuses_decisions_that_would_change_it(app, make, world):
    from server.errors import Conflict
    from server.services.closures import ensure_open

    db.session.add(
        MonthClosure(
            region=world.county_a,
            month=MARCH,
            version=1,
            snapshot="{}",
            snapshot_hash="0" * 64,
            row_count=0,
            closed_by_id=world.reviewer_a.id,
        )
    )
    db.session.flush()
    ensure_open(world.village_b1, date(2026, 3, 2))  # another county: open
    ensure_open(world.village_a1, date(2026, 4, 1))  # another month: open
    with pytest.raises(Conflict) as refused:
        ensure_open(world.village_a1, date(2026, 2, 28), date(2026, 3, 2))
    assert refused.value.error == "month_closed"


# ------------------------------------------------------------------ exports

COLUMN_KEYS = [
    "county_name", "township_name", "village_name", "village_code", "cadre_name", None,
    "unit_name", "days_posted", "required_days", "days_present", "days_duty_trip",
    "days_leave", "days_rest", "days_absent", "days_unknown", "days_counted", "pending_flags",
    "findings_total", "findings_absent", "households_paired", "households_visited",
    "leave_days_year", None, "day_codes",
]  # fmt: skip
ROLE = {"first_secretary": "第一书记", "paired_aid": "帮扶干部"}
STATUS = {"met": "达标", "not_met": "未达标", "open": "待定", "undetermined": "无法判定"}


def expected_cells(row):
    cells = [row[key] if key else None for key in COLUMN_KEYS]
    cells[5], cells[22] = ROLE[row["role"]], STATUS[row["status"]]
    return cells


def test_the_xlsx_export_matches_the_ledger_cell_by_cell(client, make, world):
    import io

    from openpyxl import load_workbook

    present(make, world.posting_a, MARCH_WORKDAYS[:21])
    leave(world.posting_a, MARCH_WORKDAYS[21], MARCH_WORKDAYS[21])
    make.posting(world.aid_cadre_a, world.village_a2, world.unit_a, role="paired_aid")
    headers = make.headers(world.city_reviewer)
    rows = ledger(client, make, world.city_reviewer)
    response = client.get(
        "/api/v1/attendance/export", query_string={"month": MARCH}, headers=headers
    )
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["汇总 2026-03", "凤台县", "寿县"]

    summary = book["汇总 2026-03"]
    assert [c.value for c in summary[1]][:4] == ["县区", "区划代码", "人数", "达标"]
    assert summary.freeze_panes == "A2"
    # posting_a met; the aid cadre visited none of their households: not met.
    assert [c.value for c in summary[2]][:5] == ["凤台县", world.county_a.code, 2, 1, 1]

    for sheet_name, county in (("凤台县", world.county_a), ("寿县", world.county_b)):
        sheet = book[sheet_name]
        assert sheet.freeze_panes == "A2"
        assert sheet.column_dimensions["G"].width == 22
        assert [c.value for c in sheet[1]][:6] == ["县区", "乡镇", "村", "村代码", "姓名", "身份"]
        expected = [r for r in rows.values() if r["county_code"] == county.code]
        expected.sort(key=lambda r: (r["village_code"], r["posting_id"]))
        got = [[c.value for c in line] for line in sheet.iter_rows(min_row=2)]
        assert got == [expected_cells(r) for r in expected]


def test_the_csv_export_matches_the_ledger(client, make, world):
    import csv
    import io

    present(make, world.posting_a, MARCH_WORKDAYS[:5])
    rows = ledger(client, make, world.admin)
    response = client.get(
        "/api/v1/attendance/export",
        query_string={"month": MARCH, "format": "csv"},
        headers=make.headers(world.admin),
    )
    assert response.status_code == 200 and response.mimetype == "text/csv"
    # Found by the API fuzzer: the charset was sent twice.
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    text = response.data.decode("utf-8")
    assert text.startswith("\ufeff")
    lines = list(csv.reader(io.StringIO(text[1:])))
    assert lines[0][:3] == ["月份", "县区", "乡镇"]
    by_code = {line[4]: line for line in lines[1:]}
    for row in rows.values():
        line = by_code[row["village_code"]]
        assert line[0] == MARCH
        assert line[1:] == ["" if v is None else str(v) for v in expected_cells(row)]


def test_a_cadres_monthly_sheet(client, make, world):
    import io

    from openpyxl import load_workbook

    present(make, world.posting_a, [date(2026, 3, 2)], at=time(8, 5))
    response = client.get(
        f"/api/v1/attendance/{world.posting_a.id}/{MARCH}/export",
        headers=make.headers(world.cadre_a),
    )
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert sheet.title == f"张伟 {MARCH}"
    lines = [[c.value for c in line] for line in sheet.iter_rows()]
    assert lines[0][:4] == ["日期", "工作日", "情况", "打卡次数"]
    assert lines[1][1:4] == ["否", "休息日", 0]
    assert lines[2][1:5] == ["是", "在岗", 1, "08:05"]
    assert lines[3][2] == "缺勤"
    assert ["姓名", "张伟"] in [line[:2] for line in lines]
    assert ["结果", "未达标"] in [line[:2] for line in lines]


def test_exports_respect_scope(client, make, world):
    response = client.get(
        "/api/v1/attendance/export",
        query_string={"month": MARCH, "format": "csv"},
        headers=make.headers(world.reviewer_b),
    )
    assert "凤台县" not in response.data.decode("utf-8")
    other = client.get(
        f"/api/v1/attendance/{world.posting_a.id}/{MARCH}/export",
        headers=make.headers(world.cadre_b),
    )
    assert other.status_code == 404


def test_an_inspections_arrival_never_shows_in_the_cadres_month(client, make, world):
    """The team's arrival is filed under the posting it inspects; the cadre must not
    learn of a visit from their own calendar, nor from their count of open flags."""
    from server.models import Flag

    (arrival,) = present(make, world.posting_a, [date(2026, 3, 2)], kind="inspection_arrival")
    db.session.add(Flag(checkin=arrival, code="new_device", severity="medium", details={}))
    db.session.flush()
    response = client.get(
        f"/api/v1/attendance/{world.posting_a.id}/{MARCH}", headers=make.headers(world.cadre_a)
    )
    assert response.json["days"][1]["checkins"] == []
    assert response.json["row"]["pending_flags"] == 0
    # Nor does a flag nobody can review keep the month from closing.
    assert close(client, make, world.reviewer_a, world.county_a).status_code == 201


def test_pending_leave_must_be_decided_before_closing(client, make, world):
    leave(world.posting_a, date(2026, 3, 9), date(2026, 3, 10), status="pending")
    response = close(client, make, world.reviewer_a, world.county_a)
    assert response.status_code == 409 and response.json["error"] == "pending_leaves_remain"
    assert response.json["errors"] == {"pending_leaves": 1}


def test_a_name_that_looks_like_a_formula_stays_text_in_the_exports(client, make, world):
    import io

    from openpyxl import load_workbook

    world.cadre_a.name = '=HYPERLINK("http://evil","x")'
    db.session.flush()
    headers = make.headers(world.admin)
    query = {"month": MARCH, "region": world.county_a.code}
    book = load_workbook(
        io.BytesIO(
            client.get("/api/v1/attendance/export", query_string=query, headers=headers).data
        )
    )
    cell = book["凤台县"]["E2"]
    assert cell.value == world.cadre_a.name and cell.data_type == "s"
    text = client.get(
        "/api/v1/attendance/export", query_string=query | {"format": "csv"}, headers=headers
    ).data.decode()
    assert "'=HYPERLINK" in text


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL"),
    reason="SQLite serialises writers; the region row locks under test are PostgreSQL's",
)
def test_a_review_waits_for_a_month_close_under_way_then_finds_it_closed(own_database, monkeypatch):
    from server.services import month_close
    from tests.factories import Factory

    app = own_database
    with app.app_context():
        make = Factory()
        world = make.world()
        closer = make.user("reviewer", jurisdiction=world.county_a)
        (row,) = present(make, world.posting_a, [date(2026, 3, 2)])
        db.session.commit()
        target, county = row.id, world.county_a.code
        review_headers, close_headers = make.headers(world.reviewer_a), make.headers(closer)
        db.session.commit()
    locked, reviewed = threading.Event(), threading.Event()
    real = month_close.rules.run_for_month

    def slow_rules(closure, **kwargs):
        locked.set()
        reviewed.wait(3)  # without the lock the review lands meanwhile
        return real(closure, **kwargs)

    monkeypatch.setattr(month_close.rules, "run_for_month", slow_rules)
    out = {}

    def close():
        out["close"] = app.test_client().post(
            "/api/v1/attendance/closures",
            json={"region_code": county, "month": "2026-03"},
            headers=close_headers,
        )

    thread = threading.Thread(target=close)
    thread.start()
    assert locked.wait(10)
    review = app.test_client().post(
        f"/api/v1/checkins/{target}/reviews",
        json={"decision": "rejected", "reason": "不在村"},
        headers=review_headers,
    )
    reviewed.set()
    thread.join()
    assert out["close"].status_code == 201, out["close"].json
    assert_error(review, 409, "month_closed")
    with app.app_context():
        assert db.session.get(Checkin, target).review_decision is None
