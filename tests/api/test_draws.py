"""Random unannounced inspections, end to end: commit before the beacon is known,
execute once, sealed assignments, publish the proof, and check it independently."""

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from config import BASE_DIR
from server.extensions import db
from server.models import (
    Assignment,
    AuditEvent,
    DeclaredRelationship,
    Draw,
    Finding,
    Flag,
    Leave,
    Policy,
    Posting,
)
from server.models.types import utcnow
from server.services import draw_frames
from server.services.postings import local_today
from tests.test_platform import assert_error

BEACON = {"source": "中国福利彩票双色球", "issue": "2026138", "announced": "2026-11-26T21:15+08:00"}


@pytest.fixture
def county(world, make):
    """Ten more postings over both counties, and five inspectors for the whole city."""
    villages = [world.village_a1, world.village_a2, world.village_b1]
    for n in range(10):
        cadre = make.user("cadre", name=f"队员{n}")
        unit = world.unit_a if n % 2 else world.unit_b
        make.posting(cadre, villages[n % 3], unit, role="team_member")
    inspectors = [
        make.user(
            "inspector",
            name=f"督查{n}",
            jurisdiction=world.city,
            unit=world.unit_a if n < 2 else None,
        )
        for n in range(5)
    ]
    db.session.commit()
    return inspectors


def create(client, headers, **overrides):
    """A draw over Huainan; an override of None removes that field."""
    body = {
        "scope_code": "340400000000",
        "kind": "visit",
        "ratio": "0.5",
        "team_size": 2,
        "load_cap": 4,
        "window_start": (utcnow() - timedelta(hours=1)).isoformat(),
        "window_end": (utcnow() + timedelta(days=2)).isoformat(),
        "beacon_spec": BEACON,
    }
    body.update(overrides)
    body = {k: v for k, v in body.items() if v is not None}
    return client.post("/api/v1/draws", json=body, headers=headers)


def verify(tmp_path, proof):
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof, ensure_ascii=False))
    return subprocess.run(
        [sys.executable, "-m", "server.tools.verify_draw", str(path)],
        cwd=BASE_DIR,
        env={**os.environ, "PYTHONPATH": str(BASE_DIR)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_whole_cycle(client, world, make, county, tmp_path):
    reviewer = make.headers(world.city_reviewer)
    created = create(client, reviewer)
    assert created.status_code == 201, created.json
    draw = created.json
    assert draw["status"] == "committed" and len(draw["commitment"]) == 64
    assert len(draw["frame_hash"]) == 64 and draw["beacon_spec"] == BEACON
    committed = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "draw.commit")
    ).scalar_one()
    assert committed.summary["commitment"] == draw["commitment"]

    executed = client.post(
        f"/api/v1/draws/{draw['id']}/execute",
        json={"beacon_value": "03 07 12 19 25 31 + 09"},
        headers=reviewer,
    )
    assert executed.status_code == 200, executed.json
    assert executed.json["status"] == "executed" and executed.json["picked"] >= 3
    again = client.post(
        f"/api/v1/draws/{draw['id']}/execute",
        json={"beacon_value": "another value"},
        headers=reviewer,
    )
    assert_error(again, 409, "draw_already_executed")
    refused = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "draw.execute_refused")
    ).scalar_one()
    assert refused.summary["beacon_value"] == "another value"

    assignments = db.session.execute(db.select(Assignment)).scalars().all()
    assert len(assignments) == executed.json["picked"]
    for assignment in assignments:
        if assignment.infeasible is None:
            assert len(assignment.inspectors) == 2
            # Recusal: never an inspector from the posting's own dispatching unit.
            assert all(i.unit_id != assignment.posting.unit_id for i in assignment.inspectors)

    # Sealed: an inspector sees exactly their own; the inspected never see anything.
    inspector = next(a.inspectors[0] for a in assignments if a.inspectors)
    mine = client.get("/api/v1/assignments", headers=make.headers(inspector)).json
    expected = {a.id for a in assignments if inspector in a.inspectors}
    assert {a["id"] for a in mine} == expected
    read = (
        db.session.execute(db.select(AuditEvent).where(AuditEvent.action == "assignment.read"))
        .scalars()
        .all()
    )
    assert read and read[-1].actor_id == inspector.id
    for cadre in (world.cadre_a, world.cadre_b):
        headers = make.headers(cadre)
        assert_error(client.get("/api/v1/assignments", headers=headers), 403, "role_required")
        assert_error(
            client.get(f"/api/v1/draws/{draw['id']}", headers=headers), 403, "role_required"
        )
        hidden = client.get(f"/api/v1/draws/{draw['id']}/proof", headers=headers)
        missing = client.get("/api/v1/draws/999999/proof", headers=headers)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json == missing.json

    # Before publication even the owner's department gets no proof.
    assert_error(
        client.get(f"/api/v1/draws/{draw['id']}/proof", headers=reviewer), 409, "draw_not_revealed"
    )
    assert client.post(f"/api/v1/draws/{draw['id']}/reveal", headers=reviewer).status_code == 200

    inside = client.get(f"/api/v1/draws/{draw['id']}/proof", headers=reviewer).json
    outside = client.get(
        f"/api/v1/draws/{draw['id']}/proof", headers=make.headers(world.cadre_a)
    ).json
    assert "identities" in inside and "identities" not in outside
    assert outside["frame"] == inside["frame"]
    assert "张伟" not in json.dumps(outside, ensure_ascii=False)  # people are pseudonyms
    outcome = verify(tmp_path, outside)
    assert outcome.returncode == 0 and "VERIFIED" in outcome.stdout, outcome.stdout + outcome.stderr

    tampered = json.loads(json.dumps(outside))
    tampered["result"]["targets"][0]["inspectors"].reverse()
    tampered["beacon_value"] = "03 07 12 19 25 32 + 09"
    outcome = verify(tmp_path, tampered)
    assert outcome.returncode == 1 and "NOT VERIFIED" in outcome.stdout


def test_assignments_stay_sealed_until_the_window_opens(client, world, make, county):
    reviewer = make.headers(world.city_reviewer)
    later = create(
        client,
        reviewer,
        window_start=(utcnow() + timedelta(days=1)).isoformat(),
        window_end=(utcnow() + timedelta(days=3)).isoformat(),
    ).json
    client.post(
        f"/api/v1/draws/{later['id']}/execute", json={"beacon_value": "x"}, headers=reviewer
    )
    assignments = db.session.execute(db.select(Assignment)).scalars().all()
    assert assignments
    for inspector in county:
        assert client.get("/api/v1/assignments", headers=make.headers(inspector)).json == []
        for assignment in assignments:
            response = client.get(
                f"/api/v1/assignments/{assignment.id}", headers=make.headers(inspector)
            )
            assert_error(response, 404, "assignment_not_found")
    # The department that drew it sees the whole result.
    listed = client.get("/api/v1/assignments?page_size=200", headers=reviewer).json
    assert len(listed) == len(assignments)


def test_too_few_eligible_inspectors_is_recorded_not_filled(client, world, make, county):
    reviewer = make.headers(world.city_reviewer)
    draw = create(client, reviewer, team_size=6).json
    client.post(f"/api/v1/draws/{draw['id']}/execute", json={"beacon_value": "x"}, headers=reviewer)
    assignments = db.session.execute(db.select(Assignment)).scalars().all()
    assert assignments and all(a.infeasible and not a.inspectors for a in assignments)


def test_declared_relationships_are_respected(client, world, make, county):
    for inspector in county:
        db.session.add(DeclaredRelationship(inspector_id=inspector.id, cadre_id=world.cadre_a.id))
    db.session.commit()
    reviewer = make.headers(world.city_reviewer)
    draw = create(client, reviewer, ratio="1").json
    client.post(f"/api/v1/draws/{draw['id']}/execute", json={"beacon_value": "x"}, headers=reviewer)
    mine = db.session.execute(
        db.select(Assignment).where(Assignment.posting_id == world.posting_a.id)
    ).scalar_one()
    assert mine.inspectors == [] and mine.infeasible is not None


def test_rfc3797_mode_is_seeded_by_public_numbers_only(client, world, make, county, tmp_path):
    reviewer = make.headers(world.city_reviewer)
    created = create(client, reviewer, mode="rfc3797", count=3, ratio=None)
    assert created.status_code == 201, created.json
    draw = created.json
    assert draw["commitment"] is None
    sources = [[9319], [2, 5, 12, 8, 10], [9, 18, 26, 34, 41, 45]]
    executed = client.post(
        f"/api/v1/draws/{draw['id']}/execute", json={"sources": sources}, headers=reviewer
    )
    assert executed.status_code == 200, executed.json
    client.post(f"/api/v1/draws/{draw['id']}/reveal", headers=reviewer)
    proof = client.get(f"/api/v1/draws/{draw['id']}/proof", headers=reviewer).json
    assert proof["rfc3797_sources"] == sources
    outcome = verify(tmp_path, proof)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"ratio": None}, "count"),  # neither count nor ratio
        ({"count": 3}, "count"),  # both
        ({"ratio": "1.5"}, "ratio"),
        ({"ratio": "abc"}, "ratio"),
        ({"team_size": 1}, "team_size"),
        ({"kind": "rollcall"}, "team_size"),  # roll-calls send nobody
        ({"scope_code": "34"}, "scope_code"),
        ({"beacon_spec": None}, "beacon_spec"),
        ({"window_start": "2026-11-26T08:00:00"}, "window_start"),  # no offset
    ],
)
def test_invalid_draws(client, world, make, overrides, field):
    """A None override removes the field."""
    body = {
        "scope_code": "340400000000",
        "ratio": "0.5",
        "team_size": 2,
        "window_start": utcnow().isoformat(),
        "window_end": (utcnow() + timedelta(days=1)).isoformat(),
        "beacon_spec": BEACON,
    }
    body.update(overrides)
    body = {k: v for k, v in body.items() if v is not None}
    response = client.post("/api/v1/draws", json=body, headers=make.headers(world.city_reviewer))
    assert_error(response, 422, "validation_error")
    assert field in response.json["errors"]


def test_a_county_reviewer_cannot_draw_for_the_city(client, world, make):
    response = create(client, make.headers(world.reviewer_a))
    assert_error(response, 403, "out_of_jurisdiction")


def test_another_countys_reviewer_cannot_see_or_run_the_draw(client, world, make, county):
    draw = create(client, make.headers(world.reviewer_a), scope_code="340421000000").json
    other = make.headers(world.reviewer_b)
    assert_error(client.get(f"/api/v1/draws/{draw['id']}", headers=other), 404, "draw_not_found")
    response = client.post(
        f"/api/v1/draws/{draw['id']}/execute", json={"beacon_value": "x"}, headers=other
    )
    assert_error(response, 404, "draw_not_found")
    # The city department sees it, but only its owner runs it.
    city = make.headers(world.city_reviewer)
    assert client.get(f"/api/v1/draws/{draw['id']}", headers=city).status_code == 200
    response = client.post(
        f"/api/v1/draws/{draw['id']}/execute", json={"beacon_value": "x"}, headers=city
    )
    assert_error(response, 403, "not_draw_owner")


def test_refused_attempts_are_on_the_record(client, world, make, county):
    reviewer = make.headers(world.city_reviewer)
    draw = create(client, reviewer).json
    response = client.post(f"/api/v1/draws/{draw['id']}/execute", json={}, headers=reviewer)
    assert_error(response, 422, "validation_error")
    refused = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "draw.execute_refused")
    ).scalar_one()
    assert refused.summary["reason"] == "no beacon value"


def test_one_beacon_backs_one_draw(client, world, make, county):
    """Otherwise an owner could commit several draws to the same lottery result and
    execute only the one they like."""
    reviewer = make.headers(world.city_reviewer)
    first = create(client, reviewer).json
    again = create(client, reviewer)
    assert_error(again, 409, "beacon_already_used")
    assert again.json["errors"]["draw_id"] == first["id"]
    other_beacon = create(client, reviewer, beacon_spec={**BEACON, "issue": "2026139"})
    assert other_beacon.status_code == 201


def test_reveal_needs_an_executed_draw_in_scope_and_its_owner(client, world, make, county):
    draw = create(client, make.headers(world.reviewer_a), scope_code="340421000000").json
    owner = make.headers(world.reviewer_a)
    assert_error(
        client.post(f"/api/v1/draws/{draw['id']}/reveal", headers=owner), 409, "draw_not_executed"
    )
    other = make.headers(world.reviewer_b)
    assert_error(
        client.post(f"/api/v1/draws/{draw['id']}/reveal", headers=other), 404, "draw_not_found"
    )
    city = make.headers(world.city_reviewer)
    assert_error(
        client.post(f"/api/v1/draws/{draw['id']}/reveal", headers=city), 403, "not_draw_owner"
    )
    cadre = make.headers(world.cadre_a)
    assert_error(
        client.post(f"/api/v1/draws/{draw['id']}/reveal", headers=cadre), 403, "role_required"
    )


def test_lists_of_draws_stay_in_scope(client, world, make, county):
    draw = create(client, make.headers(world.reviewer_a), scope_code="340421000000").json

    def ids(user):
        return [d["id"] for d in client.get("/api/v1/draws", headers=make.headers(user)).json]

    assert ids(world.reviewer_a) == [draw["id"]] and ids(world.city_reviewer) == [draw["id"]]
    assert ids(world.reviewer_b) == []


# --- The key stratum ------------------------------------------------------------------


def key_of(draw_id, posting):
    """(key, key_reasons) of a posting in a draw's frozen frame."""
    draw = db.session.get(Draw, draw_id)
    wanted = draw_frames.pseudonym(draw.salt, "posting", posting.id)
    (target,) = [t for t in json.loads(draw.frame)["targets"] if t["id"] == wanted]
    return target["key"], target["key_reasons"]


def approved_leave(posting, first, last, *, kind="leave", status="approved", returned_on=None):
    db.session.add(
        Leave(
            posting=posting,
            cadre_id=posting.cadre_id,
            kind=kind,
            start_date=first,
            end_date=last,
            reason="事假",
            status=status,
            approver_level="county",
            returned_on=returned_on,
        )
    )


def test_many_leave_days_put_a_posting_in_the_key_stratum(client, world, make, county, tmp_path):
    """Approved leave days in the 365 up to the draw's day: by default half the annual
    cap of 30, so 15 make a posting key and 14 do not. The frame says why."""
    today = local_today()
    ago = lambda n: today - timedelta(days=n)  # noqa: E731
    # posting_a: 10 of a leave that began before the year + 5 = 15.
    approved_leave(world.posting_a, ago(370), ago(355))
    approved_leave(world.posting_a, ago(5), ago(1))
    # posting_b: 10 + 4 of a leave cut short = 14; nothing else counts.
    approved_leave(world.posting_b, ago(30), ago(21))
    approved_leave(world.posting_b, ago(100), ago(81), returned_on=ago(96))
    approved_leave(world.posting_b, ago(60), ago(41), status="pending")
    approved_leave(world.posting_b, ago(200), ago(170), kind="duty_trip")
    approved_leave(world.posting_b, today + timedelta(days=1), today + timedelta(days=20))
    approved_leave(world.posting_b, ago(500), ago(400))
    db.session.commit()
    reviewer = make.headers(world.city_reviewer)

    created = create(client, reviewer, key_ratio="1")
    assert created.status_code == 201, created.json
    draw = created.json
    assert draw["parameters"]["key_leave_days"] == 15
    frame = json.loads(db.session.get(Draw, draw["id"]).frame)
    assert frame["rules"]["key_leave_days"] == "15"
    assert key_of(draw["id"], world.posting_a) == (True, ["leave_days"])
    assert key_of(draw["id"], world.posting_b) == (False, [])

    # Every key posting is drawn (key ratio 1), and the published proof still verifies.
    client.post(f"/api/v1/draws/{draw['id']}/execute", json={"beacon_value": "7"}, headers=reviewer)
    mine = db.session.execute(
        db.select(Assignment).where(Assignment.posting_id == world.posting_a.id)
    ).scalar_one()
    assert mine.stratum == "key"
    client.post(f"/api/v1/draws/{draw['id']}/reveal", headers=reviewer)
    proof = client.get(f"/api/v1/draws/{draw['id']}/proof", headers=reviewer).json
    outcome = verify(tmp_path, proof)
    assert outcome.returncode == 0 and "VERIFIED" in outcome.stdout, outcome.stdout + outcome.stderr


def test_the_leave_threshold_is_a_parameter_with_a_policy_default(client, world, make, county):
    today = local_today()
    approved_leave(world.posting_a, today - timedelta(days=12), today - timedelta(days=1))
    db.session.commit()
    reviewer = make.headers(world.city_reviewer)
    strict = create(client, reviewer, key_ratio="0.5", key_leave_days=12).json
    assert key_of(strict["id"], world.posting_a) == (True, ["leave_days"])
    lenient = create(client, reviewer, key_ratio="0.5", key_leave_days=13, beacon_spec={"n": 2})
    assert key_of(lenient.json["id"], world.posting_a) == (False, [])
    assert_error(create(client, reviewer, key_leave_days=0), 422, "validation_error")
    # Huainan caps leave at 24 days a year: half of it, 12, is the default there.
    db.session.add(
        Policy(
            region=world.city,
            version=1,
            effective_from=today,
            rules={"leave": {"annual_cap_days": 24}},
            created_by_id=world.admin.id,
        )
    )
    db.session.commit()
    by_policy = create(client, reviewer, key_ratio="0.5", beacon_spec={"n": 3}).json
    assert by_policy["parameters"]["key_leave_days"] == 12
    assert key_of(by_policy["id"], world.posting_a) == (True, ["leave_days"])


def test_every_reason_for_the_key_stratum_is_recorded(client, world, make, county):
    reviewer = make.headers(world.city_reviewer)
    earlier = create(client, reviewer, ratio="1", beacon_spec={"n": 1}).json
    client.post(
        f"/api/v1/draws/{earlier['id']}/execute", json={"beacon_value": "1"}, headers=reviewer
    )
    visits = {
        a.posting_id: a
        for a in db.session.execute(
            db.select(Assignment).where(Assignment.draw_id == earlier["id"])
        ).scalars()
    }
    for posting, outcome in ((world.posting_b, "absent"), (world.posting_a, "present")):
        db.session.add(
            Finding(
                assignment=visits[posting.id],
                outcome=outcome,
                observed_at=utcnow(),
                created_by_id=county[0].id,
                status="final",
            )
        )
    flagged = make.checkin(world.posting_a)
    db.session.add(Flag(checkin=flagged, code="outside_geofence", severity="high"))
    low = make.checkin(world.posting_b)
    db.session.add(Flag(checkin=low, code="poor_accuracy", severity="low"))
    approved_leave(world.posting_a, local_today() - timedelta(days=20), local_today())
    db.session.commit()

    draw = create(client, reviewer, key_ratio="0.5").json
    assert key_of(draw["id"], world.posting_a) == (True, ["leave_days", "open_flag"])
    assert key_of(draw["id"], world.posting_b) == (True, ["found_absent"])
    others = [p for p in visits if p not in (world.posting_a.id, world.posting_b.id)]
    assert others and all(
        key_of(draw["id"], db.session.get(Posting, p)) == (False, []) for p in others
    )
