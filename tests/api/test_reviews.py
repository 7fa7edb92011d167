"""Reviewers decide check-ins with a written reason; the cadre sees the decision and may
answer it once. Decisions are new rows that supersede, never edits."""

import pytest

from server.extensions import db
from server.models import Assignment, AuditEvent, Checkin, CheckinReview, Flag, MonthClosure
from server.models.checkins import ARRIVAL
from tests.api.checkin_kit import submit
from tests.api.test_draws import create
from tests.api.test_findings import file_finding
from tests.test_platform import assert_error


@pytest.fixture
def flagged(world, make):
    """A check-in of cadre A in March 2026 with two open flags."""
    checkin = make.checkin(world.posting_a, verdict="flagged")
    for code, severity in (("outside_geofence", "high"), ("clock_skew", "medium")):
        db.session.add(Flag(checkin=checkin, code=code, severity=severity, details={}))
    db.session.commit()
    return checkin


def review(client, headers, checkin_id, decision="rejected", reason="照片与村部位置不符。"):
    body = {"decision": decision, "reason": reason}
    return client.post(f"/api/v1/checkins/{checkin_id}/reviews", json=body, headers=headers)


def events(action):
    return (
        db.session.execute(db.select(AuditEvent).where(AuditEvent.action == action)).scalars().all()
    )


def fresh(checkin):
    db.session.expire_all()
    return db.session.get(Checkin, checkin.id)


def test_rejecting_upholds_every_flag(client, world, make, flagged):
    response = review(client, make.headers(world.reviewer_a), flagged.id)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["decision"] == "rejected" and body["reason"] == "照片与村部位置不符。"
    assert body["reviewer_id"] == world.reviewer_a.id and body["reviewer_name"] == "凤台县委组织部"
    assert body["supersedes_id"] is None and body["answer"] is None and body["decided_at"]

    checkin = fresh(flagged)
    assert checkin.verdict == "flagged"  # the machine's finding stays as it was
    assert checkin.review_decision == "rejected" and checkin.standing == "rejected"
    assert {f.status for f in checkin.flags} == {"upheld"}
    row = db.session.get(CheckinReview, body["id"])
    assert (row.checkin_id, row.reviewer_id, row.decision) == (
        flagged.id,
        world.reviewer_a.id,
        "rejected",
    )
    (event,) = events("checkin.review")
    assert event.actor_id == world.reviewer_a.id and event.object_id == str(body["id"])
    assert event.summary == {
        "checkin_id": flagged.id,
        "decision": "rejected",
        "reason": "照片与村部位置不符。",
        "supersedes_id": None,
        "flags": {"outside_geofence": "upheld", "clock_skew": "upheld"},
    }
    # Decided: no longer in the queue.
    assert client.get("/api/v1/flags", headers=make.headers(world.reviewer_a)).json == []


def test_a_second_review_supersedes_the_first(client, world, make, flagged):
    first = review(
        client, make.headers(world.reviewer_a), flagged.id, "accepted", "县里开会，已报备。"
    )
    assert first.status_code == 201
    checkin = fresh(flagged)
    assert checkin.standing == "accepted" and {f.status for f in checkin.flags} == {"dismissed"}

    second = review(client, make.headers(world.city_reviewer), flagged.id)
    assert second.status_code == 201
    assert second.json["supersedes_id"] == first.json["id"]
    checkin = fresh(flagged)
    assert checkin.review_decision == "rejected" and {f.status for f in checkin.flags} == {"upheld"}
    rows = db.session.execute(
        db.select(CheckinReview).where(CheckinReview.checkin_id == flagged.id)
    ).scalars()
    assert [r.decision for r in rows] == ["accepted", "rejected"]
    assert [e.summary["supersedes_id"] for e in events("checkin.review")] == [
        None,
        first.json["id"],
    ]


def test_a_check_in_without_flags_may_be_rejected(client, world, make):
    checkin = make.checkin(world.posting_a)
    db.session.commit()
    response = review(client, make.headers(world.admin), checkin.id)
    assert response.status_code == 201
    assert fresh(checkin).standing == "rejected"


@pytest.mark.parametrize(
    "body",
    [
        {"decision": "rejected"},
        {"decision": "rejected", "reason": "  \n "},
        {"decision": "rejected", "reason": ""},
        {"decision": "maybe", "reason": "不确定。"},
        {"decision": "rejected", "reason": "不符。", "flags": []},
    ],
)
def test_a_written_reason_and_a_known_decision_are_required(client, world, make, flagged, body):
    response = client.post(
        f"/api/v1/checkins/{flagged.id}/reviews", json=body, headers=make.headers(world.reviewer_a)
    )
    assert_error(response, 422, "validation_error")
    assert db.session.execute(db.select(CheckinReview)).first() is None


def test_a_closed_month_is_not_reopened_by_a_review(client, world, make, flagged):
    db.session.add(
        MonthClosure(
            region=world.county_a,
            month="2026-03",
            version=1,
            snapshot="{}",
            snapshot_hash="0" * 64,
            row_count=0,
            closed_by_id=world.reviewer_a.id,
        )
    )
    db.session.commit()
    response = review(client, make.headers(world.reviewer_a), flagged.id)
    assert_error(response, 409, "month_closed")
    assert response.json["errors"]["month"] == "2026-03"
    assert fresh(flagged).review_decision is None
    assert {f.status for f in fresh(flagged).flags} == {"open"}
    assert events("checkin.review") == []


def test_who_may_review(client, world, make, flagged):
    assert_error(
        review(client, make.headers(world.reviewer_b), flagged.id), 404, "checkin_not_found"
    )
    assert_error(review(client, make.headers(world.cadre_a), flagged.id), 403, "role_required")
    # Reviewers in their own right are still no judges of their own check-ins.
    both = make.user("cadre", "reviewer", name="兼职干部", jurisdiction=world.county_a)
    own = make.checkin(make.posting(both, world.village_a2, world.unit_a, role="team_member"))
    db.session.commit()
    assert_error(review(client, make.headers(both), own.id), 403, "own_checkin")
    assert events("checkin.review") == []


def test_an_inspector_who_sees_the_check_in_may_not_review_it(client, world, make, flagged):
    make.user("inspector", name="钱督查", jurisdiction=world.county_a)
    db.session.commit()
    reviewer = make.headers(world.reviewer_a)
    draw = create(client, reviewer, scope_code=world.county_a.code, ratio="1").json
    client.post(f"/api/v1/draws/{draw['id']}/execute", json={"beacon_value": "3"}, headers=reviewer)
    inspector = make.headers(world.inspector_a)
    assert client.get(f"/api/v1/checkins/{flagged.id}", headers=inspector).status_code == 200
    assert_error(review(client, inspector, flagged.id), 403, "role_required")


def test_an_inspection_arrival_is_not_reviewable(client, world, make):
    arrival = make.checkin(world.posting_a, kind=ARRIVAL, cadre=world.inspector_a)
    db.session.commit()
    response = review(client, make.headers(world.reviewer_a), arrival.id)
    assert_error(response, 409, "checkin_not_reviewable")


def test_the_cadre_sees_the_decision_and_answers_once(client, world, make, flagged):
    decided = review(client, make.headers(world.reviewer_a), flagged.id).json
    cadre = make.headers(world.cadre_a)
    shown = client.get(f"/api/v1/checkins/{flagged.id}", headers=cadre).json
    assert shown["review_decision"] == "rejected" and shown["standing"] == "rejected"
    assert shown["verdict"] == "flagged"
    (seen,) = shown["reviews"]
    assert seen["reason"] == "照片与村部位置不符。" and seen["reviewer_name"] == "凤台县委组织部"
    (listed,) = client.get("/api/v1/checkins", headers=cadre).json
    assert listed["reviews"] == shown["reviews"]
    assert [r["id"] for r in client.get("/api/v1/me/reviews", headers=cadre).json] == [
        decided["id"]
    ]

    url = f"/api/v1/reviews/{decided['id']}/answer"
    answer = {"answer": "当天在县里参加培训，有签到表为证。"}
    assert_error(
        client.post(url, json=answer, headers=make.headers(world.reviewer_a)),
        403,
        "not_your_checkin",
    )
    assert_error(
        client.post(url, json=answer, headers=make.headers(world.cadre_b)),
        404,
        "checkin_review_not_found",
    )
    assert_error(client.post(url, json={"answer": " "}, headers=cadre), 422, "validation_error")

    answered = client.post(url, json=answer, headers=cadre)
    assert answered.status_code == 200, answered.json
    assert answered.json["answer"] == answer["answer"] and answered.json["answered_at"]
    assert_error(
        client.post(url, json={"answer": "补充说明。"}, headers=cadre),
        409,
        "review_already_answered",
    )
    db.session.expire_all()
    assert db.session.get(CheckinReview, decided["id"]).answer == answer["answer"]
    (event,) = events("checkin_review.answer")
    assert event.actor_id == world.cadre_a.id
    assert event.summary == {"checkin_id": flagged.id, "answer": answer["answer"]}
    # The department reads the answer where it reads the decision.
    got = client.get(f"/api/v1/reviews/{decided['id']}", headers=make.headers(world.reviewer_a))
    assert got.json["answer"] == answer["answer"]


def test_the_second_decision_is_listed_first_for_the_cadre(client, world, make, flagged):
    first = review(client, make.headers(world.reviewer_a), flagged.id, "accepted", "已核实。").json
    second = review(client, make.headers(world.reviewer_a), flagged.id).json
    cadre = make.headers(world.cadre_a)
    mine = client.get("/api/v1/me/reviews", headers=cadre).json
    assert [r["id"] for r in mine] == [second["id"], first["id"]]
    shown = client.get(f"/api/v1/checkins/{flagged.id}", headers=cadre).json
    assert [r["id"] for r in shown["reviews"]] == [first["id"], second["id"]]
    assert_error(
        client.get("/api/v1/me/reviews", headers=make.headers(world.reviewer_a)),
        403,
        "role_required",
    )


def test_a_contradicting_inspection_returns_a_decided_check_in_to_the_queue(client, world, make):
    for name in ("孙督查", "周督查"):  # a team of two is drawn from these and inspector A
        make.user("inspector", name=name, jurisdiction=world.county_a)
    db.session.commit()
    reviewer = make.headers(world.reviewer_a)
    claim = submit(client, make.headers(world.cadre_a)).json
    accepted = review(client, reviewer, claim["id"], "accepted", "位置与照片一致。").json
    draw = create(client, reviewer, scope_code=world.county_a.code, ratio="1").json
    client.post(f"/api/v1/draws/{draw['id']}/execute", json={"beacon_value": "5"}, headers=reviewer)
    assignment = db.session.execute(
        db.select(Assignment).where(Assignment.posting_id == world.posting_a.id)
    ).scalar_one()
    first, second = (make.headers(i) for i in assignment.inspectors)
    draft = file_finding(client, assignment, first).json
    client.post(f"/api/v1/findings/{draft['id']}/signatures", headers=second)

    checkin = db.session.get(Checkin, claim["id"])
    db.session.refresh(checkin)
    assert checkin.verdict == "flagged" and checkin.review_decision is None
    assert checkin.standing == "flagged"
    assert db.session.get(CheckinReview, accepted["id"]) is not None  # the record stays
    (item,) = client.get("/api/v1/flags", headers=reviewer).json
    assert item["code"] == "contradicted_by_inspection" and item["checkin"]["id"] == claim["id"]
    (event,) = events("finding.final")
    assert event.summary["returned_to_review"] == [claim["id"]]
    assert event.summary["contradicted_checkins"] == [claim["id"]]
