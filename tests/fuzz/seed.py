"""The fuzzer's world: the test world (tests/factories.py) plus at least one object of
every kind an API path names, made through the API where that is how they arise, so
that fuzzed requests reach real rows in every state worth poking (a draw before and
after execution, a leave pending and approved, a finding in draft, a recall owed)."""

from server.extensions import db
from server.models import Assignment, Flag, Recommendation, ReplacementObligation
from tests.api.case_kit import answer, deadline_passed, decide, own_initiative
from tests.api.checkin_kit import submit
from tests.factories import Factory

MONTH = "2026-03"


def _ok(response, status=(200, 201)):
    assert response.status_code in status, (response.status_code, response.json)
    return response.json


def _draw(client, headers, scope_code, source):
    return _ok(
        client.post(
            "/api/v1/draws",
            json={
                "scope_code": scope_code,
                "count": 1,
                "window_start": "2026-01-01T00:00:00+08:00",
                "window_end": "2099-01-01T00:00:00+08:00",
                "beacon_spec": {"source": source},
            },
            headers=headers,
        )
    )


def _checkins(client, make, world, ids):
    for posting in (world.posting_a, world.posting_b):
        village = posting.village
        created = _ok(
            submit(
                client,
                make.headers(posting.cadre),
                latitude=village.latitude,
                longitude=village.longitude,
            )
        )
        ids["checkin_id"].append(created["id"])
        ids["photo_id"].append(created["photos"][0]["id"])
        flag = Flag(checkin_id=created["id"], code="outside_geofence", severity="high")
        db.session.add(flag)
    db.session.commit()


def _inspection(client, make, world, ids):
    make.user("inspector", name="钱督查", jurisdiction=world.county_a)
    db.session.commit()
    reviewer = make.headers(world.reviewer_a)
    draw = _draw(client, reviewer, world.county_a.code, "fuzz-executed")
    _ok(
        client.post(
            f"/api/v1/draws/{draw['id']}/execute", json={"beacon_value": "7"}, headers=reviewer
        )
    )
    pending = _draw(client, reviewer, world.county_a.code, "fuzz-pending")
    ids["draw_id"] += [draw["id"], pending["id"]]
    assignment = db.session.execute(
        db.select(Assignment.id).where(Assignment.draw_id == draw["id"])
    ).scalar_one()
    ids["assignment_id"].append(assignment)
    finding = client.post(
        f"/api/v1/assignments/{assignment}/findings",
        json={"outcome": "present", "observed_at": "2026-06-01T10:00:00+08:00"},
        headers=make.headers(world.inspector_a),
    )
    ids["finding_id"].append(_ok(finding)["id"])


def _leaves_and_reviews(client, make, world, ids):
    reviewer = make.headers(world.reviewer_a)
    for start, end in (("2099-03-02", "2099-03-03"), ("2099-04-06", "2099-04-07")):
        body = {"kind": "leave", "start_date": start, "end_date": end, "reason": "事假"}
        leave = _ok(client.post("/api/v1/leaves", json=body, headers=make.headers(world.cadre_a)))
        ids["leave_id"].append(leave["id"])
    decision = {"decision": "approved", "reason": "同意。"}
    _ok(
        client.post(
            f"/api/v1/leaves/{ids['leave_id'][1]}/decision", json=decision, headers=reviewer
        )
    )
    review = {"decision": "accepted", "reason": "核实无误。"}
    url = f"/api/v1/checkins/{ids['checkin_id'][0]}/reviews"
    ids["review_id"].append(_ok(client.post(url, json=review, headers=reviewer))["id"])
    policy = {
        "region_code": world.county_a.code,
        "effective_from": "2026-01-01",
        "rules": {"attendance": {"min_days_per_month": 18}},
        "reason": "fuzz",
    }
    ids["policy_id"].append(
        _ok(client.post("/api/v1/policies", json=policy, headers=reviewer))["id"]
    )
    problem = {
        "village_code": world.village_a1.code,
        "posting_id": world.posting_a.id,
        "category": "驻村管理",
        "description": "值班表缺失。",
        "deadline": "2099-01-01",
    }
    ids["problem_id"].append(
        _ok(client.post("/api/v1/problems", json=problem, headers=reviewer))["id"]
    )
    closure = {"region_code": world.county_a.code, "month": MONTH}
    closed = client.post("/api/v1/attendance/closures", json=closure, headers=reviewer)
    ids["closure_id"].append(_ok(closed)["id"])
    ids["recommendation_id"] += db.session.execute(db.select(Recommendation.id)).scalars().all()


def _cases(client, make, world, ids):
    reviewer = make.headers(world.reviewer_a)
    case = _ok(own_initiative(client, reviewer, world.posting_a, "talk"))
    attached = answer(client, make.headers(world.cadre_a), case["id"], files=[("a.txt", b"note")])
    ids["case_id"].append(case["id"])
    ids["attachment_id"].append(_ok(attached)["attachments"][0]["id"])
    # A recall of a posting of its own, so the world's postings stay active.
    cadre = make.user("cadre", name="孙丽", unit=world.unit_a)
    recalled = make.posting(cadre, world.village_a2, world.unit_a, role="team_member")
    db.session.commit()
    ids["posting_id"].append(recalled.id)
    recall = _ok(own_initiative(client, reviewer, recalled, "recall"))
    deadline_passed(recall["id"])
    _ok(decide(client, reviewer, recall["id"], "recall"))
    ids["case_id"].append(recall["id"])
    ids["obligation_id"] += db.session.execute(db.select(ReplacementObligation.id)).scalars().all()


def seed(client):
    """Builds and commits the world; returns (user ids by role, known values by path
    parameter name)."""
    make = Factory()
    world = make.world()
    db.session.commit()
    ids = {
        "region_id": [
            world.village_a1.id,
            world.village_b1.id,
            world.county_a.id,
            world.province.id,
        ],
        "unit_id": [world.unit_a.id, world.unit_b.id],
        "user_id": [u.id for u in (world.cadre_a, world.cadre_b, world.inspector_a, world.admin)],
        "posting_id": [world.posting_a.id, world.posting_b.id],
        "household_id": [world.household_a.id, world.household_b.id],
        "month": [MONTH],
        "year": [2026],
        # A day of the closed month, and one of an open month.
        "day": ["2026-03-02", "2026-05-04"],
    }
    for name in (
        "checkin_id photo_id draw_id assignment_id finding_id leave_id review_id policy_id"
        " problem_id closure_id recommendation_id case_id attachment_id obligation_id"
    ).split():
        ids[name] = []
    _checkins(client, make, world, ids)
    _inspection(client, make, world, ids)
    _leaves_and_reviews(client, make, world, ids)
    _cases(client, make, world, ids)
    roles = {
        "admin": world.admin.id,
        "reviewer": world.reviewer_a.id,
        "inspector": world.inspector_a.id,
        "cadre": world.cadre_a.id,
    }
    return roles, {name: values for name, values in ids.items() if values}
