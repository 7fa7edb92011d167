"""Leave and duty trips over HTTP: asking, approval at the level the duration needs,
overlaps, late requests, cancelling, and close-out (销假) by check-in or by hand."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.extensions import db
from server.models import AuditEvent, Leave, MonthClosure, Policy
from tests.api.checkin_kit import POST, offset_point, submit
from tests.test_platform import assert_error

URL = "/api/v1/leaves"


def today():
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def day(n):
    """n days from today (local)."""
    return today() + timedelta(days=n)


def ahead(n):
    """A day of next year: never late, and always in one calendar year."""
    return date(today().year + 1, 3, 1) + timedelta(days=n)


def ask(client, headers, start, end, kind="leave", **extra):
    body = {
        "kind": kind,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "reason": "母亲住院手术，回家照料。",
        **extra,
    }
    return client.post(URL, json=body, headers=headers)


def decide(client, headers, leave_id, decision="approved", reason="情况属实，同意。"):
    body = {"decision": decision, "reason": reason}
    return client.post(f"{URL}/{leave_id}/decision", json=body, headers=headers)


def events(action):
    return (
        db.session.execute(
            db.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        )
        .scalars()
        .all()
    )


@pytest.fixture
def cadre(world, make):
    return make.headers(world.cadre_a)


@pytest.fixture
def township(world, make):
    """The township party committee of village A1 (county A)."""
    reviewer = make.user("reviewer", name="城关镇党委", jurisdiction=world.township_a)
    db.session.commit()
    return make.headers(reviewer)


@pytest.fixture
def county(world, make):
    return make.headers(world.reviewer_a)


def close_month(world, region, day):
    db.session.add(
        MonthClosure(
            region=region,
            month=f"{day.year:04d}-{day.month:02d}",
            version=1,
            status="closed",
            snapshot="{}",
            snapshot_hash="0" * 64,
            row_count=0,
            closed_by_id=world.admin.id,
        )
    )
    db.session.commit()


def test_three_days_are_asked_for_and_approved_by_the_township(client, world, cadre, township):
    response = ask(client, cadre, ahead(0), ahead(2))
    assert response.status_code == 201, response.json
    body = response.json
    assert body["status"] == "pending" and body["approver_level"] == "township"
    assert body["posting_id"] == world.posting_a.id and body["cadre_id"] == world.cadre_a.id
    assert body["village_code"] == world.village_a1.code and body["days"] == 3
    assert body["late"] is False and body["late_reason"] is None
    assert body["annual"] == {
        "year": ahead(0).year,
        "approved_leave_days": 0,
        "annual_cap_days": 30,
        "cap_exceeded": False,
    }
    stored = db.session.get(Leave, body["id"])
    assert stored.kind == "leave" and stored.reason == "母亲住院手术，回家照料。"
    (requested,) = events("leave.request")
    assert requested.object_id == str(body["id"]) and requested.actor_id == world.cadre_a.id
    assert requested.summary["approver_level"] == "township"

    approved = decide(client, township, body["id"])
    assert approved.status_code == 200, approved.json
    assert approved.json["status"] == "approved"
    assert approved.json["decision_reason"] == "情况属实，同意。"
    assert approved.json["annual"]["approved_leave_days"] == 3
    db.session.expire_all()
    stored = db.session.get(Leave, body["id"])
    assert stored.status == "approved" and stored.decided_at is not None
    (decided,) = events("leave.decide")
    assert decided.summary == {"decision": "approved", "approver_level": "township"}
    assert decided.actor_id == stored.decided_by_id


def test_four_days_need_the_county(client, world, cadre, township, county):
    leave = ask(client, cadre, ahead(0), ahead(3)).json
    assert leave["approver_level"] == "county"
    assert_error(decide(client, township, leave["id"]), 403, "approver_level_required")
    assert db.session.get(Leave, leave["id"]).status == "pending"
    assert events("leave.decide") == []
    assert decide(client, county, leave["id"]).json["status"] == "approved"


def test_a_higher_level_may_decide_a_short_leave(client, world, make, cadre):
    leave = ask(client, cadre, ahead(0), ahead(1)).json
    assert leave["approver_level"] == "township"
    city = make.headers(world.city_reviewer)
    rejected = decide(client, city, leave["id"], "rejected", "扶贫验收期间不宜离岗。")
    assert rejected.status_code == 200
    assert rejected.json["status"] == "rejected"
    assert rejected.json["decided_by_id"] == world.city_reviewer.id


def test_a_county_policy_version_changes_the_bands_from_its_date(client, world, cadre):
    before = ask(client, cadre, ahead(0), ahead(4)).json
    assert before["approver_level"] == "county"
    # 凤台县: township committees approve up to 5 days, from 1 June next year.
    db.session.add(
        Policy(
            region=world.county_a,
            version=1,
            effective_from=ahead(92),
            rules={
                "leave": {
                    "approval_levels": [
                        {"max_days": 5, "level": "township"},
                        {"max_days": None, "level": "county"},
                    ]
                }
            },
            created_by_id=world.reviewer_a.id,
        )
    )
    db.session.commit()
    assert ask(client, cadre, ahead(91), ahead(91)).json["approver_level"] == "township"
    assert ask(client, cadre, ahead(92), ahead(96)).json["approver_level"] == "township"
    assert ask(client, cadre, ahead(100), ahead(105)).json["approver_level"] == "county"
    # Before its date the default holds, and a request keeps the level it was given.
    assert ask(client, cadre, ahead(60), ahead(63)).json["approver_level"] == "county"
    assert client.get(f"{URL}/{before['id']}", headers=cadre).json["approver_level"] == "county"


def test_overlapping_requests_are_refused(client, world, cadre, county):
    first = ask(client, cadre, ahead(10), ahead(14)).json
    clash = ask(client, cadre, ahead(14), ahead(20), kind="duty_trip")
    assert_error(clash, 409, "leave_overlap")
    assert clash.json["errors"] == {"leave_id": first["id"]}
    assert_error(ask(client, cadre, ahead(5), ahead(30)), 409, "leave_overlap")
    assert ask(client, cadre, ahead(15), ahead(16)).status_code == 201  # the day after
    assert db.session.execute(db.select(db.func.count(Leave.id))).scalar_one() == 2

    decide(client, county, first["id"])
    assert_error(ask(client, cadre, ahead(12), ahead(12)), 409, "leave_overlap")


def test_dates_are_free_again_after_a_rejection_or_a_cancellation(client, world, cadre, county):
    rejected = ask(client, cadre, ahead(10), ahead(14)).json
    decide(client, county, rejected["id"], "rejected", "请调整时间。")
    cancelled = ask(client, cadre, ahead(10), ahead(12)).json
    client.post(f"{URL}/{cancelled['id']}/cancel", headers=cadre)
    again = ask(client, cadre, ahead(11), ahead(13))
    assert again.status_code == 201, again.json


def test_a_leave_cut_short_frees_the_days_from_the_return(client, world, make, cadre, county):
    leave = ask(client, cadre, day(-4), day(6), late_reason="突发急病，事后补假。").json
    decide(client, county, leave["id"])
    back = day(-1)
    closed = client.post(
        f"{URL}/{leave['id']}/close",
        json={"returned_on": back.isoformat(), "reason": "已返岗"},
        headers=county,
    )
    assert closed.status_code == 200, closed.json
    assert_error(ask(client, cadre, day(-2), back), 409, "leave_overlap")
    trip = ask(client, cadre, back, day(2), kind="duty_trip", late_reason="参加县里培训，补报备。")
    assert trip.status_code == 201, trip.json


def test_a_late_request_needs_a_reason_and_stays_marked(client, world, cadre, county):
    start = day(-2)
    refused = ask(client, cadre, start, today())
    assert_error(refused, 422, "late_reason_required")
    assert "late_reason" in refused.json["errors"]
    assert events("leave.request") == []
    late = ask(client, cadre, start, today(), late_reason="夜间突发，未能提前请假。")
    assert late.status_code == 201
    assert late.json["late"] is True and late.json["late_reason"] == "夜间突发，未能提前请假。"
    approved = decide(client, county, late.json["id"])
    assert approved.json["status"] == "approved" and approved.json["late"] is True
    # Starting today is not late.
    on_time = ask(client, cadre, day(1), day(1))
    assert on_time.json["late"] is False


def test_a_duty_trip_counts_as_present_not_as_leave(client, world, cadre, township):
    trip = ask(client, cadre, ahead(0), ahead(1), kind="duty_trip", reason="参加市委党校培训")
    assert trip.status_code == 201
    assert trip.json["kind"] == "duty_trip" and trip.json["approver_level"] == "township"
    approved = decide(client, township, trip.json["id"])
    assert approved.json["status"] == "approved"
    assert approved.json["annual"]["approved_leave_days"] == 0


def add_leave(posting, start, end, *, status="approved", kind="leave", returned_on=None):
    leave = Leave(
        posting=posting,
        cadre_id=posting.cadre_id,
        kind=kind,
        start_date=start,
        end_date=end,
        reason="事假",
        status=status,
        approver_level="county",
        returned_on=returned_on,
    )
    db.session.add(leave)
    db.session.flush()
    return leave


def test_the_year_counts_approved_leave_only_up_to_the_return(client, world, make, cadre):
    year = today().year + 1
    posting = world.posting_a
    shown = add_leave(posting, date(year, 3, 1), date(year, 3, 10))  # 10
    add_leave(posting, date(year, 4, 1), date(year, 4, 20), returned_on=date(year, 4, 8))  # 7
    add_leave(posting, date(year, 5, 1), date(year, 5, 3), returned_on=date(year, 5, 9))  # 3
    add_leave(posting, date(year, 12, 30), date(year + 1, 1, 3))  # 2 of them this year
    add_leave(posting, date(year, 6, 1), date(year, 6, 30), status="pending")
    add_leave(posting, date(year, 7, 1), date(year, 7, 30), kind="duty_trip")
    add_leave(posting, date(year, 8, 1), date(year, 8, 30), status="rejected")
    add_leave(posting, date(year - 1, 12, 1), date(year - 1, 12, 20))
    other = make.posting(make.user("cadre"), world.village_a1, world.unit_a, role="team_member")
    add_leave(other, date(year, 9, 1), date(year, 9, 30))
    db.session.commit()
    annual = client.get(f"{URL}/{shown.id}", headers=cadre).json["annual"]
    assert annual == {
        "year": year,
        "approved_leave_days": 22,
        "annual_cap_days": 30,
        "cap_exceeded": False,
    }
    add_leave(posting, date(year, 10, 1), date(year, 10, 9))  # 31 in all
    db.session.commit()
    annual = client.get(f"{URL}/{shown.id}", headers=cadre).json["annual"]
    assert annual["approved_leave_days"] == 31 and annual["cap_exceeded"] is True


def test_the_cadre_cancels_a_pending_request(client, world, make, cadre, county):
    leave = ask(client, cadre, ahead(0), ahead(1)).json
    url = f"{URL}/{leave['id']}/cancel"
    assert_error(client.post(url, headers=make.headers(world.cadre_b)), 404, "leave_not_found")
    assert_error(client.post(url, headers=county), 403, "role_required")
    # Someone who is both a cadre and a reviewer sees it, but it is not theirs to cancel.
    both = make.user("cadre", "reviewer", jurisdiction=world.county_a)
    assert_error(client.post(url, headers=make.headers(both)), 403, "not_your_leave")
    cancelled = client.post(url, headers=cadre)
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert db.session.get(Leave, leave["id"]).status == "cancelled"
    (event,) = events("leave.cancel")
    assert event.actor_id == world.cadre_a.id
    assert_error(client.post(url, headers=cadre), 409, "leave_not_pending")
    assert_error(decide(client, county, leave["id"]), 409, "leave_not_pending")


def test_only_a_pending_leave_is_decided_once(client, world, cadre, county):
    leave = ask(client, cadre, ahead(0), ahead(0)).json
    decide(client, county, leave["id"])
    again = decide(client, county, leave["id"], "rejected", "改变主意")
    assert_error(again, 409, "leave_not_pending")
    assert db.session.get(Leave, leave["id"]).status == "approved"
    assert_error(
        client.post(f"{URL}/{leave['id']}/cancel", headers=cadre), 409, "leave_not_pending"
    )


def test_decisions_need_a_reason_and_the_right_people(client, world, make, cadre, county):
    leave = ask(client, cadre, ahead(0), ahead(0)).json
    url = f"{URL}/{leave['id']}/decision"
    missing = client.post(url, json={"decision": "approved"}, headers=county)
    assert_error(missing, 422, "validation_error")
    assert "reason" in missing.json["errors"]
    empty = client.post(url, json={"decision": "rejected", "reason": ""}, headers=county)
    assert_error(empty, 422, "validation_error")
    assert_error(decide(client, cadre, leave["id"]), 403, "role_required")
    assert_error(
        decide(client, make.headers(world.reviewer_b), leave["id"]), 404, "leave_not_found"
    )
    assert db.session.get(Leave, leave["id"]).status == "pending"
    assert decide(client, make.headers(world.admin), leave["id"]).status_code == 200


def test_nobody_decides_their_own_leave(client, world, make):
    officer = make.user("cadre", "reviewer", name="兼职干部", jurisdiction=world.county_a)
    make.posting(officer, world.village_a2, world.unit_a, role="team_member")
    db.session.commit()
    headers = make.headers(officer)
    leave = ask(client, headers, ahead(0), ahead(0)).json
    assert_error(decide(client, headers, leave["id"]), 403, "own_leave")


def test_approving_into_a_closed_month_is_refused(client, world, cadre, county):
    leave = ask(client, cadre, ahead(28), ahead(32)).json  # 29 March to 2 April
    close_month(world, world.county_a, ahead(32))
    refused = decide(client, county, leave["id"])
    assert_error(refused, 409, "month_closed")
    assert refused.json["errors"]["month"] == f"{ahead(32).year}-04"
    assert db.session.get(Leave, leave["id"]).status == "pending"
    assert events("leave.decide") == []
    # A rejection changes no attendance.
    assert decide(client, county, leave["id"], "rejected", "请改期").status_code == 200


def test_a_presence_check_in_closes_the_approved_leave(client, world, cadre, county):
    leave = ask(client, cadre, day(-3), day(3), late_reason="急事").json
    decide(client, county, leave["id"])
    checkin = submit(client, cadre)
    assert checkin.status_code == 201, checkin.json
    shown = client.get(f"{URL}/{leave['id']}", headers=cadre).json
    assert shown["returned_on"] == today().isoformat()
    assert shown["closed_by_checkin_id"] == checkin.json["id"]
    assert shown["closed_at"] is not None and shown["closed_by_id"] is None
    (event,) = events("leave.close")
    assert event.actor_id == world.cadre_a.id
    assert event.summary["by"] == "checkin" and event.summary["checkin_id"] == checkin.json["id"]
    # The next check-in changes nothing.
    submit(client, cadre, photo_seed=2)
    assert len(events("leave.close")) == 1
    assert db.session.get(Leave, leave["id"]).closed_by_checkin_id == checkin.json["id"]


def test_a_check_in_during_a_pending_leave_does_nothing_until_approval(
    client, world, cadre, county
):
    leave = ask(client, cadre, day(-2), day(2), late_reason="急事").json
    checkin = submit(client, cadre).json
    assert db.session.get(Leave, leave["id"]).returned_on is None
    assert events("leave.close") == []
    # Approved after the fact: the check-in already made shows the cadre was back.
    approved = decide(client, county, leave["id"]).json
    assert approved["returned_on"] == today().isoformat()
    assert approved["closed_by_checkin_id"] == checkin["id"]
    assert len(events("leave.close")) == 1


def review(client, make, world, checkin_id, decision):
    body = {"decision": decision, "reason": "核实结果。"}
    url = f"/api/v1/checkins/{checkin_id}/reviews"
    response = client.post(url, json=body, headers=make.headers(world.reviewer_a))
    assert response.status_code == 201, response.json
    db.session.expire_all()


def test_a_flagged_check_in_closes_a_leave_only_once_accepted(client, world, make, cadre, county):
    leave = ask(client, cadre, day(-3), day(3), late_reason="急事").json
    decide(client, county, leave["id"])
    far = offset_point(*POST, north_m=5000)
    flagged = submit(client, cadre, latitude=far[0], longitude=far[1]).json
    assert flagged["verdict"] == "flagged"
    assert db.session.get(Leave, leave["id"]).returned_on is None
    assert events("leave.close") == []
    review(client, make, world, flagged["id"], "accepted")
    closed = db.session.get(Leave, leave["id"])
    assert closed.returned_on == today() and closed.closed_by_checkin_id == flagged["id"]
    assert len(events("leave.close")) == 1


def test_rejecting_the_check_in_that_closed_a_leave_undoes_the_close(
    client, world, make, cadre, county
):
    leave = ask(client, cadre, day(-3), day(3), late_reason="急事").json
    decide(client, county, leave["id"])
    first = submit(client, cadre).json
    second = submit(client, cadre, photo_seed=2).json
    assert db.session.get(Leave, leave["id"]).closed_by_checkin_id == first["id"]
    # The next accepted check-in becomes the return ...
    review(client, make, world, first["id"], "rejected")
    moved = db.session.get(Leave, leave["id"])
    assert moved.closed_by_checkin_id == second["id"] and moved.returned_on == today()
    # ... and with none left, the leave is open again.
    review(client, make, world, second["id"], "rejected")
    reopened = db.session.get(Leave, leave["id"])
    assert (reopened.returned_on, reopened.closed_at, reopened.closed_by_checkin_id) == (
        None,
        None,
        None,
    )
    undone = events("leave.close_undone")
    assert [e.summary["rejected_checkin_id"] for e in undone] == [first["id"], second["id"]]
    assert undone[0].summary["checkin_id"] == second["id"]
    assert undone[1].summary["returned_on"] is None
    assert undone[1].actor_id == world.reviewer_a.id


def test_a_check_in_on_the_first_day_of_leave_does_not_close_it(client, world, cadre, county):
    """The cadre may check in that morning and leave at noon."""
    leave = ask(client, cadre, today(), day(2)).json
    decide(client, county, leave["id"])
    assert submit(client, cadre).status_code == 201
    assert db.session.get(Leave, leave["id"]).returned_on is None


def test_a_reviewer_closes_a_leave_by_hand(client, world, make, cadre, county):
    leave = ask(client, cadre, day(-5), day(5), late_reason="急事").json
    url = f"{URL}/{leave['id']}/close"
    back = day(-1)
    body = {"returned_on": back.isoformat(), "reason": "驻村办电话核实已返岗"}
    assert_error(client.post(url, json=body, headers=county), 409, "leave_not_closable")
    decide(client, county, leave["id"])
    assert_error(client.post(url, json=body, headers=cadre), 403, "role_required")
    assert_error(
        client.post(url, json=body, headers=make.headers(world.reviewer_b)), 404, "leave_not_found"
    )
    for wrong in (day(-6), day(1)):
        refused = client.post(url, json={**body, "returned_on": wrong.isoformat()}, headers=county)
        assert_error(refused, 422, "validation_error")
        assert "returned_on" in refused.json["errors"]
    assert_error(
        client.post(url, json={"returned_on": back.isoformat()}, headers=county),
        422,
        "validation_error",
    )

    closed = client.post(url, json=body, headers=county)
    assert closed.status_code == 200, closed.json
    assert closed.json["returned_on"] == back.isoformat()
    assert closed.json["closed_by_id"] == world.reviewer_a.id
    assert closed.json["closed_by_checkin_id"] is None
    (event,) = events("leave.close")
    assert event.summary["by"] == "hand" and event.summary["reason"] == "驻村办电话核实已返岗"
    assert_error(client.post(url, json=body, headers=county), 409, "leave_not_closable")
    # A later check-in leaves a close by hand alone.
    submit(client, cadre)
    assert db.session.get(Leave, leave["id"]).returned_on == back


def test_closing_by_hand_into_a_closed_month_is_refused(client, world, cadre, county):
    start = day(-3)
    leave = ask(client, cadre, start, day(40), late_reason="急事").json
    decide(client, county, leave["id"])
    close_month(world, world.county_a, day(40))
    response = client.post(
        f"{URL}/{leave['id']}/close",
        json={"returned_on": today().isoformat(), "reason": "已返岗"},
        headers=county,
    )
    assert_error(response, 409, "month_closed")
    assert db.session.get(Leave, leave["id"]).returned_on is None


def test_which_posting(client, world, make, cadre):
    assert_error(
        ask(client, cadre, date(2025, 12, 1), date(2025, 12, 2), late_reason="补"),
        422,
        "no_active_posting",
    )
    aid = make.posting(
        world.cadre_a, world.village_a2, world.unit_a, role="paired_aid", end=ahead(10)
    )
    db.session.commit()
    ambiguous = ask(client, cadre, ahead(0), ahead(1))
    assert_error(ambiguous, 422, "posting_ambiguous")
    chosen = ask(client, cadre, ahead(0), ahead(1), posting_id=aid.id)
    assert chosen.status_code == 201 and chosen.json["posting_id"] == aid.id
    assert chosen.json["village_code"] == world.village_a2.code
    beyond = ask(client, cadre, ahead(9), ahead(11), posting_id=aid.id)
    assert_error(beyond, 422, "outside_posting")
    theirs = ask(client, cadre, ahead(0), ahead(1), posting_id=world.posting_b.id)
    assert_error(theirs, 422, "posting_not_found")
    # Separate postings keep separate calendars.
    same_days = ask(client, cadre, ahead(0), ahead(1), posting_id=world.posting_a.id)
    assert same_days.status_code == 201


@pytest.mark.parametrize(
    "change, field",
    [
        ({"kind": "holiday"}, "kind"),
        ({"end_date": "2020-01-01"}, "end_date"),
        ({"reason": ""}, "reason"),
        ({"start_date": "3026-01-01"}, "start_date"),
        ({"approver_level": "township"}, "approver_level"),
    ],
)
def test_invalid_requests(client, world, cadre, change, field):
    body = {
        "kind": "leave",
        "start_date": ahead(0).isoformat(),
        "end_date": ahead(1).isoformat(),
        "reason": "事假",
        **change,
    }
    response = client.post(URL, json=body, headers=cadre)
    assert_error(response, 422, "validation_error")
    assert field in response.json["errors"]


def test_only_cadres_ask(client, world, county):
    assert_error(ask(client, county, ahead(0), ahead(0)), 403, "role_required")


def test_lists_are_scoped_and_filtered(client, world, make, cadre, county):
    first = ask(client, cadre, ahead(0), ahead(2)).json
    trip = ask(client, cadre, ahead(10), ahead(10), kind="duty_trip").json
    cadre_b = make.headers(world.cadre_b)
    theirs = ask(client, cadre_b, ahead(0), ahead(5)).json
    decide(client, county, first["id"])

    def ids(headers, query=""):
        response = client.get(f"{URL}?{query}", headers=headers)
        assert response.status_code == 200, response.json
        return [row["id"] for row in response.json]

    assert ids(cadre) == [trip["id"], first["id"]]
    assert ids(cadre_b) == [theirs["id"]]
    assert ids(county) == [trip["id"], first["id"]]
    assert ids(make.headers(world.reviewer_b)) == [theirs["id"]]
    city = make.headers(world.city_reviewer)
    assert set(ids(city)) == {first["id"], trip["id"], theirs["id"]}
    assert ids(city, "status=approved") == [first["id"]]
    assert ids(city, "kind=duty_trip") == [trip["id"]]
    assert ids(city, f"posting_id={world.posting_b.id}") == [theirs["id"]]
    assert ids(city, f"cadre_id={world.cadre_a.id}") == [trip["id"], first["id"]]
    assert ids(city, f"region_code={world.county_b.code}") == [theirs["id"]]
    assert set(ids(city, f"region_code={world.township_a.code}")) == {first["id"], trip["id"]}
    window = f"date_from={ahead(3).isoformat()}&date_to={ahead(9).isoformat()}"
    assert ids(city, window) == [theirs["id"]]
    assert ids(city, f"date_from={ahead(10).isoformat()}") == [trip["id"]]
    assert ids(city, f"date_to={ahead(0).isoformat()}") == [theirs["id"], first["id"]]
    assert_error(client.get(f"{URL}?status=approvedd", headers=city), 422, "validation_error")


def test_another_cadre_cannot_see_the_leave(client, world, make, cadre):
    leave = ask(client, cadre, ahead(0), ahead(0)).json
    hidden = client.get(f"{URL}/{leave['id']}", headers=make.headers(world.cadre_b))
    missing = client.get(f"{URL}/999999", headers=make.headers(world.cadre_b))
    assert_error(hidden, 404, "leave_not_found")
    assert hidden.json == missing.json
    assert client.get(f"{URL}/{leave['id']}", headers=cadre).json == leave


def test_concurrent_overlapping_requests_let_exactly_one_through(own_database):
    from tests.api.test_checkin_sync import _parallel
    from tests.factories import Factory

    app = own_database
    with app.app_context():
        world = Factory().world()
        headers = Factory().headers(world.cadre_a)
        db.session.commit()
    starts = iter(range(6))

    def request():
        n = next(starts)
        body = {
            "kind": "leave",
            "start_date": ahead(n).isoformat(),
            "end_date": ahead(n + 6).isoformat(),
            "reason": "事假",
        }
        response = app.test_client().post(URL, json=body, headers=headers)
        return response.status_code, response.json["error"] if response.status_code != 201 else ""

    answers = _parallel(6, request)
    assert sorted(answers) == [(201, "")] + [(409, "leave_overlap")] * 5, answers
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(Leave.id))).scalar_one() == 1


def test_concurrent_decisions_and_a_cancellation_let_exactly_one_through(own_database):
    from tests.api.test_checkin_sync import _parallel
    from tests.factories import Factory

    app = own_database
    with app.app_context():
        make = Factory()
        world = make.world()
        reviewers = [make.user("reviewer", jurisdiction=world.county_a) for _ in range(5)]
        db.session.commit()
        actors = [make.headers(r) for r in reviewers] + [make.headers(world.cadre_a)]
        leave = Leave(
            posting=world.posting_a,
            cadre_id=world.cadre_a.id,
            kind="leave",
            start_date=ahead(0),
            end_date=ahead(1),
            reason="事假",
            status="pending",
            approver_level="township",
        )
        db.session.add(leave)
        db.session.commit()
        leave_id = leave.id
    turns = iter(range(6))

    def act():
        n = next(turns)
        client = app.test_client()
        if n == 5:
            response = client.post(f"{URL}/{leave_id}/cancel", headers=actors[n])
        else:
            body = {"decision": "approved" if n % 2 else "rejected", "reason": f"第{n}位"}
            response = client.post(f"{URL}/{leave_id}/decision", json=body, headers=actors[n])
        return response.status_code

    answers = _parallel(6, act)
    assert sorted(answers) == [200] + [409] * 5, answers
    with app.app_context():
        actions = (
            db.session.execute(
                db.select(AuditEvent.action).where(
                    AuditEvent.action.in_(("leave.decide", "leave.cancel"))
                )
            )
            .scalars()
            .all()
        )
        assert len(actions) == 1
