"""From evidence to recommendation, rule by rule, on both databases: a month closed
below the minimum, two in a row, three good months with a visit that found the cadre
in, an absence found on site, a check-in the visit contradicted, leave over the annual
cap; and running the rules again adds nothing."""

import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest

from server.extensions import db
from server.models import AuditEvent, Case, Finding, MonthClosure, Photo, Recommendation
from server.services import audit, calendar, rules
from server.services.ledger import local_today
from server.services.rule_support import Proposal, insert
from tests.api.checkin_kit import submit
from tests.api.test_attendance import _finding, leave, policy, present
from tests.api.test_findings import file_finding, visit  # noqa: F401 (fixture)
from tests.test_platform import assert_error

JAN, FEB, MARCH, APRIL = "2026-01", "2026-02", "2026-03", "2026-04"


def workdays(month, n):
    year, number = int(month[:4]), int(month[5:])
    return [d.day for d in calendar.month_days(year, number) if d.working][:n]


def close(client, make, user, region, month):
    response = client.post(
        "/api/v1/attendance/closures",
        json={"region_code": region.code, "month": month},
        headers=make.headers(user),
    )
    assert response.status_code == 201, response.json
    return response.json


def reopen(client, make, user, closure):
    response = client.post(
        f"/api/v1/attendance/closures/{closure['id']}/reopen",
        json={"reason": "补录"},
        headers=make.headers(user),
    )
    assert response.status_code == 200, response.json


def recommendations(client, make, user, **params):
    response = client.get(
        "/api/v1/recommendations",
        query_string={"page_size": 200, **params},
        headers=make.headers(user),
    )
    assert response.status_code == 200, response.json
    return response.json


def all_keys():
    return sorted(db.session.execute(db.select(Recommendation.dedup_key)).scalars())


def photo(checkin, seed=1):
    row = Photo(
        checkin=checkin,
        position=0,
        sha256=hashlib.sha256(str(seed).encode()).hexdigest(),
        format="JPEG",
        mime_type="image/jpeg",
        size_bytes=1000,
        width=640,
        height=480,
        phash="0" * 16,
        phash_int=seed,
    )
    db.session.add(row)
    db.session.flush()
    return row


def version_of(settings):
    return hashlib.sha256(audit.canonical_json(settings).encode()).hexdigest()


def by_type(evidence, kind):
    return [e for e in evidence if e["type"] == kind]


def low_minimum(make, world, days=3, **extra):
    """County A asks only `days` days a month, so a month is met with a few check-ins."""
    return policy(make, world.county_a, {"attendance": {"min_days_per_month": days}, **extra})


def attend(make, posting, month, n):
    return present(make, posting, workdays(month, n))


# ------------------------------------------------------------------ month rules


def test_a_month_below_the_minimum_recommends_a_reminder(client, make, world):
    checkins = attend(make, world.posting_a, MARCH, 10)
    shot = photo(checkins[0])
    closure = close(client, make, world.reviewer_a, world.county_a, MARCH)

    (rec,) = recommendations(client, make, world.reviewer_a)
    assert (rec["rule"], rec["measure"], rec["period"], rec["status"]) == (
        "month_below_minimum",
        "reminder",
        MARCH,
        "open",
    )
    assert rec["posting_id"] == world.posting_a.id and rec["cadre_name"] == "张伟"
    assert rec["summary"] == "2026-03：计入在岗10天，低于应驻20天。"
    assert rec["rule_settings"] == {"enabled": True, "measure": "reminder", "policy_ids": []}
    assert rec["rule_version"] == version_of(rec["rule_settings"])
    evidence = rec["evidence"]
    assert evidence[0] == {
        "type": "month_closure",
        "id": closure["id"],
        "month": MARCH,
        "region_code": world.county_a.code,
        "version": 1,
        "snapshot_hash": closure["snapshot_hash"],
    }
    frozen = __import__("json").loads(closure["snapshot"])["rows"][0]
    ledger = evidence[1]
    assert ledger["type"] == "ledger_month" and ledger["closure_id"] == closure["id"]
    assert ledger["status"] == "not_met" and ledger["day_codes"] == frozen["day_codes"]
    assert (ledger["days_counted"], ledger["required_days"]) == (10, 20)
    assert [e["id"] for e in by_type(evidence, "checkin")] == [c.id for c in checkins]
    assert by_type(evidence, "photo") == [
        {"type": "photo", "id": shot.id, "checkin_id": checkins[0].id, "sha256": shot.sha256}
    ]
    # One audit event for the run, naming what it created; county B was not closed.
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "recommendation.create")
    ).scalar_one()
    assert (event.object_type, event.object_id) == ("month_closure", str(closure["id"]))
    assert [r["id"] for r in event.summary["recommendations"]] == [rec["id"]]
    assert all_keys() == [f"month_below_minimum:{world.posting_a.id}:{MARCH}"]


@pytest.mark.parametrize("order", [(FEB, MARCH), (MARCH, FEB)])
def test_two_closed_months_below_in_a_row_recommend_a_talk(client, make, world, order):
    closures = {}
    for month in order:
        assert not recommendations(client, make, world.admin, rule="consecutive_months_below")
        closures[month] = close(client, make, world.reviewer_a, world.county_a, month)
    (talk,) = recommendations(client, make, world.admin, rule="consecutive_months_below")
    assert (talk["measure"], talk["period"]) == ("talk", MARCH)
    assert talk["rule_settings"] == {
        "enabled": True,
        "measure": "talk",
        "months": 2,
        "policy_ids": [],
    }
    assert [(e["id"], e["month"]) for e in by_type(talk["evidence"], "month_closure")] == [
        (closures[FEB]["id"], FEB),
        (closures[MARCH]["id"], MARCH),
    ]
    assert [e["status"] for e in by_type(talk["evidence"], "ledger_month")] == ["not_met"] * 2
    reminders = recommendations(client, make, world.admin, rule="month_below_minimum")
    assert sorted(r["period"] for r in reminders) == [FEB, MARCH]


def test_a_month_met_in_between_breaks_the_run(client, make, world):
    low_minimum(make, world)
    attend(make, world.posting_a, FEB, 3)
    for month in (JAN, FEB, MARCH):
        close(client, make, world.reviewer_a, world.county_a, month)
    assert not recommendations(client, make, world.admin, rule="consecutive_months_below")
    assert len(recommendations(client, make, world.admin, rule="month_below_minimum")) == 2


def test_three_good_months_with_a_visit_recommend_a_commendation(client, make, world):
    rules_version = low_minimum(make, world)
    checkins = [c for m in (JAN, FEB, MARCH) for c in attend(make, world.posting_a, m, 3)]
    seen = _finding(make, world, world.posting_a, "present", datetime(2026, 2, 3, 2, tzinfo=UTC))
    closures = [close(client, make, world.reviewer_a, world.county_a, m) for m in (JAN, FEB)]
    assert not recommendations(client, make, world.admin)
    closures.append(close(client, make, world.reviewer_a, world.county_a, MARCH))

    (rec,) = recommendations(client, make, world.admin)
    assert (rec["rule"], rec["measure"], rec["period"]) == (
        "sustained_service",
        "commendation",
        MARCH,
    )
    assert rec["rule_settings"] == {
        "enabled": True,
        "measure": "commendation",
        "months": 3,
        "policy_ids": [rules_version.id],
    }
    evidence = rec["evidence"]
    assert [e["id"] for e in by_type(evidence, "month_closure")] == [c["id"] for c in closures]
    assert [e["status"] for e in by_type(evidence, "ledger_month")] == ["met"] * 3
    (finding,) = by_type(evidence, "finding")
    assert finding["id"] == seen.id and finding["outcome"] == "present"
    assert [e["id"] for e in by_type(evidence, "checkin")] == [c.id for c in checkins]

    # A fourth good month continues the same stretch: no second commendation.
    attend(make, world.posting_a, APRIL, 3)
    close(client, make, world.reviewer_a, world.county_a, APRIL)
    assert len(recommendations(client, make, world.admin)) == 1


@pytest.mark.parametrize("outcomes", [(), ("present", "absent")])
def test_no_commendation_without_a_visit_finding_the_cadre_in(client, make, world, outcomes):
    low_minimum(make, world)
    for i, outcome in enumerate(outcomes):
        at = datetime(2026, 2, 3 + i, 2, tzinfo=UTC)
        _finding(make, world, world.posting_a, outcome, at)
    for month in (JAN, FEB, MARCH):
        attend(make, world.posting_a, month, 3)
        close(client, make, world.reviewer_a, world.county_a, month)
    assert recommendations(client, make, world.admin) == []


def test_leave_over_the_annual_cap_recommends_a_recall(client, make, world):
    rules_version = low_minimum(make, world, leave={"annual_cap_days": 5})
    attend(make, world.posting_a, MARCH, 3)
    first = leave(world.posting_a, date(2026, 3, 16), date(2026, 3, 18))
    # Closed early: back on the 25th, so 2 days of it count.
    second = leave(
        world.posting_a, date(2026, 3, 23), date(2026, 3, 27), returned_on=date(2026, 3, 25)
    )
    leave(world.posting_a, date(2026, 4, 6), date(2026, 4, 10))  # after the month: not yet
    closure = close(client, make, world.reviewer_a, world.county_a, MARCH)
    assert recommendations(client, make, world.admin) == []  # 5 days: at the cap, not over

    reopen(client, make, world.reviewer_a, closure)
    third = leave(world.posting_a, date(2026, 3, 30), date(2026, 3, 30))
    closure = close(client, make, world.reviewer_a, world.county_a, MARCH)
    (rec,) = recommendations(client, make, world.admin)
    assert (rec["rule"], rec["measure"], rec["period"]) == (
        "annual_leave_over_cap",
        "recall",
        "2026",
    )
    assert rec["rule_settings"] == {
        "enabled": True,
        "measure": "recall",
        "annual_cap_days": 5,
        "policy_ids": [rules_version.id],
    }
    assert rec["summary"] == "2026年截至2026-03-31已请假6天，超过年度上限5天。"
    assert rec["evidence"][0]["id"] == closure["id"]
    assert [(e["id"], e["days"]) for e in by_type(rec["evidence"], "leave")] == [
        (first.id, 3),
        (second.id, 2),
        (third.id, 1),
    ]


def test_the_policy_on_the_periods_last_day_sets_the_rule(client, make, world):
    off = {"consequences": {"rules": {"month_below_minimum": {"enabled": False}}}}
    policy(make, world.county_a, off)
    talk = policy(
        make,
        world.county_b,
        {"consequences": {"rules": {"month_below_minimum": {"measure": "talk"}}}},
        effective=date(2026, 3, 31),
    )
    policy(
        make,
        world.county_b,
        {"consequences": {"rules": {"month_below_minimum": {"measure": "admonition"}}}},
        effective=date(2026, 4, 1),
    )
    close(client, make, world.reviewer_a, world.county_a, MARCH)
    close(client, make, world.reviewer_b, world.county_b, MARCH)
    (rec,) = recommendations(client, make, world.admin)
    assert rec["posting_id"] == world.posting_b.id and rec["measure"] == "talk"
    assert rec["rule_settings"] == {"enabled": True, "measure": "talk", "policy_ids": [talk.id]}
    assert rec["rule_version"] == version_of(rec["rule_settings"])
    assert rec["rule_version"] != version_of({**rec["rule_settings"], "policy_ids": []})


# ------------------------------------------------------------------ finding rules


def sign(client, finding, headers):
    response = client.post(f"/api/v1/findings/{finding['id']}/signatures", headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def test_an_absence_found_with_a_contradicted_checkin(client, world, make, visit):  # noqa: F811
    assignment, (first, second), _ = visit
    claim = submit(client, make.headers(world.cadre_a)).json
    finding = file_finding(client, assignment, first).json
    assert recommendations(client, make, world.admin) == []  # a draft proves nothing yet
    final = sign(client, finding, second)

    recs = {r["rule"]: r for r in recommendations(client, make, world.cadre_a)}
    assert set(recs) == {"absence_found", "false_checkin"}
    criticism, recall = recs["absence_found"], recs["false_checkin"]
    assert (criticism["measure"], recall["measure"]) == ("circulated_criticism", "recall")
    assert criticism["period"] == recall["period"] == f"finding:{finding['id']}"
    cited_finding = {
        "type": "finding",
        "id": finding["id"],
        "outcome": "absent",
        "observed_at": datetime.fromisoformat(final["observed_at"]).isoformat(),
        "amends_id": None,
        "signed_by": final["signed_by"],
    }
    cited_assignment = {"type": "assignment", "id": assignment.id, "draw_id": assignment.draw_id}
    photo_ref = {
        "type": "photo",
        "id": claim["photos"][0]["id"],
        "checkin_id": claim["id"],
        "sha256": claim["photos"][0]["sha256"],
    }
    for rec in (criticism, recall):
        assert rec["evidence"][:2] == [cited_finding, cited_assignment]
        (checkin,) = by_type(rec["evidence"], "checkin")
        assert checkin["id"] == claim["id"] and checkin["standing"] == "flagged"
        assert by_type(rec["evidence"], "photo") == [photo_ref]
    (flag,) = by_type(recall["evidence"], "flag")
    assert (flag["checkin_id"], flag["code"]) == (claim["id"], "contradicted_by_inspection")
    assert criticism["rule_settings"] == {
        "enabled": True,
        "measure": "circulated_criticism",
        "policy_ids": [],
    }
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "recommendation.create")
    ).scalar_one()
    assert (event.object_type, event.object_id) == ("finding", str(finding["id"]))
    assert recommendations(client, make, world.cadre_b) == []
    assert recommendations(client, make, world.reviewer_b) == []


def test_an_absence_without_a_checkin_is_not_a_false_checkin(client, world, make, visit):  # noqa: F811
    assignment, (first, second), _ = visit
    sign(client, file_finding(client, assignment, first).json, second)
    (rec,) = recommendations(client, make, world.admin)
    assert rec["rule"] == "absence_found"
    assert [e["type"] for e in rec["evidence"]] == ["finding", "assignment"]


@pytest.mark.parametrize("kind", ["leave", "duty_trip"])
def test_an_absence_on_a_day_of_approved_leave_is_excused(client, world, make, visit, kind):  # noqa: F811
    assignment, (first, second), _ = visit
    today = local_today()
    leave(world.posting_a, today - timedelta(days=1), today + timedelta(days=2), kind=kind)
    db.session.commit()
    sign(client, file_finding(client, assignment, first).json, second)
    assert recommendations(client, make, world.admin) == []
    report = client.get(
        f"/api/v1/units/{world.unit_a.id}/accountability", headers=make.headers(world.admin)
    )
    assert report.status_code == 200, report.json
    assert report.json["total"]["absences_found"] == 0


def test_a_visit_that_finds_the_cadre_in_recommends_nothing(client, world, make, visit):  # noqa: F811
    assignment, (first, second), _ = visit
    submit(client, make.headers(world.cadre_a))
    sign(client, file_finding(client, assignment, first, outcome="present").json, second)
    assert recommendations(client, make, world.admin) == []


def test_an_amendment_stands_for_the_finding_it_corrects(client, world, make, visit):  # noqa: F811
    assignment, (first, second), _ = visit
    seen = sign(client, file_finding(client, assignment, first, outcome="present").json, second)
    amendment = file_finding(client, assignment, second, amends_id=seen["id"], problems=[]).json
    sign(client, amendment, first)
    (rec,) = recommendations(client, make, world.admin)
    assert rec["period"] == f"finding:{seen['id']}"
    assert rec["evidence"][0]["id"] == amendment["id"]
    assert rec["evidence"][0]["amends_id"] == seen["id"]
    # Amending again with the same outcome is the same absence: nothing new.
    again = file_finding(client, assignment, first, amends_id=amendment["id"], problems=[]).json
    sign(client, again, second)
    assert len(recommendations(client, make, world.admin)) == 1


def test_reopening_a_month_sets_its_recommendations_aside(client, make, world):
    attend(make, world.posting_a, MARCH, 10)
    closure = close(client, make, world.reviewer_a, world.county_a, MARCH)
    (rec,) = recommendations(client, make, world.reviewer_a)
    reopen(client, make, world.reviewer_a, closure)
    (after,) = recommendations(client, make, world.reviewer_a)
    assert after["status"] == "set_aside"
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "recommendation.set_aside")
    ).scalar_one()
    assert event.object_id == str(rec["id"]) and event.actor_id == world.reviewer_a.id
    assert event.summary["cause"] == "closure_reopened"
    assert event.summary["month_closure_ids"] == [closure["id"]]
    # One left open by an older version of the server cannot become a case.
    db.session.get(Recommendation, rec["id"]).status = "open"
    db.session.commit()
    response = client.post(
        "/api/v1/cases",
        json={"recommendation_id": rec["id"]},
        headers=make.headers(world.reviewer_a),
    )
    assert_error(response, 409, "recommendation_stale")
    assert response.json["errors"] == {"cause": "closure_reopened"}
    assert db.session.execute(db.select(Case)).first() is None


def test_amending_a_finding_to_present_sets_its_recommendations_aside(
    client,
    world,
    make,
    visit,  # noqa: F811
):
    assignment, (first, second), _ = visit
    submit(client, make.headers(world.cadre_a))
    absent = sign(client, file_finding(client, assignment, first).json, second)
    assert len(recommendations(client, make, world.admin, status="open")) == 2
    amendment = file_finding(
        client, assignment, second, outcome="present", amends_id=absent["id"], problems=[]
    ).json
    sign(client, amendment, first)
    recs = recommendations(client, make, world.admin)
    assert {r["rule"] for r in recs} == {"absence_found", "false_checkin"}
    assert {r["status"] for r in recs} == {"set_aside"}
    events = db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.action == "recommendation.set_aside")
    ).all()
    assert [e.summary["finding_ids"] for e in events] == [[absent["id"]]] * 2
    rec = db.session.get(Recommendation, recs[0]["id"])
    rec.status = "open"
    db.session.commit()
    response = client.post(
        "/api/v1/cases", json={"recommendation_id": rec.id}, headers=make.headers(world.admin)
    )
    assert_error(response, 409, "recommendation_stale")


# ------------------------------------------------------------------ idempotency


def test_running_the_rules_again_adds_nothing(client, world, make, visit):  # noqa: F811
    assignment, (first, second), _ = visit
    submit(client, make.headers(world.cadre_a))
    finding = sign(client, file_finding(client, assignment, first).json, second)
    closure = close(client, make, world.reviewer_a, world.county_a, MARCH)
    close(client, make, world.reviewer_a, world.county_a, FEB)
    keys = all_keys()
    assert len(keys) == 5  # criticism, recall, two reminders, a talk
    events = db.session.execute(db.select(db.func.count(AuditEvent.seq))).scalar_one()

    row = db.session.get(MonthClosure, closure["id"])
    assert rules.run_for_month(row) == []
    assert rules.run_for_finding(db.session.get(Finding, finding["id"])) == []
    assert all_keys() == keys
    assert db.session.execute(db.select(db.func.count(AuditEvent.seq))).scalar_one() == events

    # Reopened and closed again: a new frozen version, the same recommendations.
    reopen(client, make, world.reviewer_a, closure)
    close(client, make, world.reviewer_a, world.county_a, MARCH)
    assert all_keys() == keys
    assert (
        db.session.execute(
            db.select(db.func.count(AuditEvent.seq)).where(
                AuditEvent.action == "recommendation.create"
            )
        ).scalar_one()
        == 3
    )


def test_a_key_inserted_meanwhile_is_skipped_by_the_database(make, world):
    """What a concurrent run looks like to the second one: the pre-check saw nothing,
    and the insert meets the key the first one wrote."""
    proposal = Proposal(
        rule="month_below_minimum",
        posting_id=world.posting_a.id,
        period=MARCH,
        settings={"enabled": True, "measure": "reminder", "policy_ids": []},
        evidence=[],
        summary="x",
    )
    (created,) = insert([proposal], world.posting_a, trigger_name="test")
    assert insert([proposal], world.posting_a, trigger_name="test") == []
    assert all_keys() == [proposal.dedup_key]
    assert db.session.get(Recommendation, created).rule_version == version_of(proposal.settings)


# ------------------------------------------------------------------ reading and setting aside


@pytest.fixture
def reminder(client, make, world):
    close(client, make, world.reviewer_a, world.county_a, MARCH)
    close(client, make, world.reviewer_b, world.county_b, MARCH)
    rows = recommendations(client, make, world.admin)
    return {r["posting_id"]: r for r in rows}


def test_recommendations_are_scoped_and_filtered(client, make, world, reminder):
    a, b = reminder[world.posting_a.id]["id"], reminder[world.posting_b.id]["id"]
    ids = lambda user, **p: [r["id"] for r in recommendations(client, make, user, **p)]  # noqa: E731
    assert ids(world.admin) == [b, a]  # latest first
    assert ids(world.city_reviewer) == [b, a]
    assert ids(world.reviewer_a) == [a] and ids(world.cadre_a) == [a]
    assert ids(world.inspector_a) == [] and ids(world.aid_cadre_a) == []
    assert ids(world.admin, region_code=world.county_b.code) == [b]
    assert ids(world.admin, posting_id=world.posting_a.id) == [a]
    assert ids(world.admin, rule="month_below_minimum", status="open") == [b, a]
    assert ids(world.admin, rule="sustained_service") == []
    headers = make.headers(world.cadre_a)
    assert client.get(f"/api/v1/recommendations/{a}", headers=headers).json["id"] == a
    assert_error(
        client.get(f"/api/v1/recommendations/{b}", headers=headers), 404, "recommendation_not_found"
    )
    for bad in ({"status": "closed"}, {"rule": "x"}, {"region_code": "1"}):
        response = client.get("/api/v1/recommendations", query_string=bad, headers=headers)
        assert response.status_code == 422


def set_aside(client, make, user, rec_id, reason="经核实系因公外出，已补报备。"):
    return client.post(
        f"/api/v1/recommendations/{rec_id}/set-aside",
        json={"reason": reason},
        headers=make.headers(user),
    )


def test_a_reviewer_sets_a_recommendation_aside_with_a_reason(client, make, world, reminder):
    rec_id = reminder[world.posting_a.id]["id"]
    response = set_aside(client, make, world.reviewer_a, rec_id)
    assert response.status_code == 200, response.json
    assert response.json["status"] == "set_aside"
    assert response.json["set_aside"]["reason"] == "经核实系因公外出，已补报备。"
    assert response.json["set_aside"]["by_id"] == world.reviewer_a.id
    assert db.session.get(Recommendation, rec_id).status == "set_aside"
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "recommendation.set_aside")
    ).scalar_one()
    assert event.object_id == str(rec_id) and event.actor_id == world.reviewer_a.id
    assert_error(set_aside(client, make, world.reviewer_a, rec_id), 409, "already_set_aside")
    seen = client.get(f"/api/v1/recommendations/{rec_id}", headers=make.headers(world.cadre_a))
    assert seen.json["set_aside"]["reason"] == "经核实系因公外出，已补报备。"


def test_setting_aside_is_refused(client, make, world, reminder):
    rec_id = reminder[world.posting_a.id]["id"]
    url = f"/api/v1/recommendations/{rec_id}/set-aside"
    headers = make.headers(world.reviewer_a)
    assert_error(set_aside(client, make, world.cadre_a, rec_id), 403, "role_required")
    assert_error(set_aside(client, make, world.reviewer_b, rec_id), 404, "recommendation_not_found")
    assert_error(set_aside(client, make, world.reviewer_a, rec_id, " "), 422, "reason_required")
    assert_error(client.post(url, json={}, headers=headers), 422, "validation_error")
    assert_error(
        client.post(url, json={"reason": "x", "extra": 1}, headers=headers), 422, "validation_error"
    )
    case = Case(
        posting_id=world.posting_a.id,
        cadre_id=world.cadre_a.id,
        recommendation_id=rec_id,
        proposed_measure="reminder",
        summary="s",
        evidence=[],
        decision_level="township",
        answer_deadline=date(2026, 12, 31),
        opened_by_id=world.reviewer_a.id,
    )
    db.session.add(case)
    db.session.commit()
    response = set_aside(client, make, world.reviewer_a, rec_id)
    assert_error(response, 409, "case_opened")
    assert response.json["errors"] == {"case_id": case.id}
    assert db.session.get(Recommendation, rec_id).status == "open"


def test_setting_aside_needs_the_level_that_decides_the_measure(client, make, world, reminder):
    township = make.user("reviewer", name="城关镇党委", jurisdiction=world.township_a)
    db.session.commit()
    rec_id = reminder[world.posting_a.id]["id"]
    db.session.get(Recommendation, rec_id).measure = "recall"
    db.session.commit()
    response = set_aside(client, make, township, rec_id)
    assert_error(response, 403, "decision_level_required")
    assert response.json["errors"] == {"decision_level": "county", "your_level": "township"}
    db.session.get(Recommendation, rec_id).measure = "reminder"  # the township decides these
    db.session.commit()
    assert set_aside(client, make, township, rec_id).status_code == 200


def test_nobody_sets_aside_a_recommendation_about_themselves(client, make, world):
    from tests.api.case_kit import recommendation

    both = make.user(
        "cadre", "reviewer", name="两者", jurisdiction=world.county_a, unit=world.unit_a
    )
    rec = recommendation(make.posting(both, world.village_a2, world.unit_a), "recall")
    assert_error(set_aside(client, make, both, rec.id), 403, "own_case")
    assert db.session.get(Recommendation, rec.id).status == "open"
    assert set_aside(client, make, world.reviewer_a, rec.id).status_code == 200


def test_concurrent_runs_over_one_closure_create_each_recommendation_once(own_database):
    from tests.api.test_checkin_sync import _parallel
    from tests.factories import Factory

    app = own_database
    with app.app_context():
        world = Factory().world()
        row = {"posting_id": world.posting_a.id, "village_code": world.village_a1.code}
        row |= {"status": "not_met", "standard": "days", "days_counted": 0, "required_days": 20}
        snapshot = audit.canonical_json({"month": MARCH, "rows": [row]})
        closure = MonthClosure(
            region=world.county_a,
            month=MARCH,
            version=1,
            snapshot=snapshot,
            snapshot_hash=hashlib.sha256(snapshot.encode()).hexdigest(),
            row_count=1,
            closed_by_id=world.reviewer_a.id,
        )
        db.session.add(closure)
        db.session.commit()
        closure_id, key = closure.id, f"month_below_minimum:{world.posting_a.id}:{MARCH}"

    def run():
        with app.app_context():
            try:
                created = rules.run_for_month(db.session.get(MonthClosure, closure_id))
                db.session.commit()
                return len(created)
            except Exception as exc:  # the answer to check, not a crash of the thread
                return repr(exc)

    assert sorted(_parallel(4, run)) == [0, 0, 0, 1]
    with app.app_context():
        assert all_keys() == [key]
        created = db.select(db.func.count(AuditEvent.seq)).where(
            AuditEvent.action == "recommendation.create"
        )
        assert db.session.execute(created).scalar_one() == 1
