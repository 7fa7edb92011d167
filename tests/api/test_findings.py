"""A visit, end to end: arrival, finding, co-signing, the cross-check that marks the
cadre's contradicted check-in, problem items, and amendments that never overwrite."""

import pytest

from server.extensions import db
from server.models import Assignment, AuditEvent, Checkin
from server.models.types import utcnow
from tests.api.checkin_kit import device_time, fields, flag_codes, photo_for, post, submit
from tests.api.test_draws import create, verify
from tests.test_platform import assert_error


@pytest.fixture
def visit(client, world, make):
    """County A's department draws every posting of the county, with a team of two."""
    team = [
        make.user("inspector", name=n, jurisdiction=world.county_a) for n in ("孙督查", "周督查")
    ]
    db.session.commit()
    reviewer = make.headers(world.reviewer_a)
    draw = create(client, reviewer, scope_code=world.county_a.code, ratio="1").json
    client.post(f"/api/v1/draws/{draw['id']}/execute", json={"beacon_value": "5"}, headers=reviewer)
    assignment = db.session.execute(
        db.select(Assignment).where(Assignment.posting_id == world.posting_a.id)
    ).scalar_one()
    inspectors = assignment.inspectors
    assert len(inspectors) == 2
    return assignment, [make.headers(i) for i in inspectors], team


def file_finding(client, assignment, headers, **overrides):
    body = {
        "outcome": "absent",
        "observed_at": utcnow().isoformat(),
        "notes": "村委会值班人员称第一书记本周未到村。",
        "problems": [
            {
                "category": "attendance",
                "description": "第一书记未按规定驻村",
                "responsible_person": "张伟",
                "deadline": "2026-12-31",
            }
        ],
    }
    body.update(overrides)
    return client.post(f"/api/v1/assignments/{assignment.id}/findings", json=body, headers=headers)


def test_the_whole_cycle_from_draw_to_verified_proof(client, world, make, visit, tmp_path):
    """Draw, commit, execute, sealed visibility (the visit fixture and test_draws),
    arrival, finding, co-signing, the cross-check flag, reveal, independent check."""
    assignment, (first, second), _ = visit
    cadre = make.headers(world.cadre_a)
    claim = submit(client, cadre).json
    assert claim["verdict"] == "accepted"

    at = device_time()
    arrival = post(
        client,
        first,
        fields(captured_at=at, device_id="inspector-phone", kind=None),
        [photo_for(at, 31)],
        url=f"/api/v1/assignments/{assignment.id}/arrival",
    )
    assert arrival.status_code == 201, arrival.json
    assert arrival.json["kind"] == "inspection_arrival"
    assert "outside_geofence" not in flag_codes(arrival)

    draft = file_finding(client, assignment, first, arrival_checkin_id=arrival.json["id"])
    assert draft.status_code == 201, draft.json
    assert draft.json["status"] == "draft" and len(draft.json["signed_by"]) == 1
    assert draft.json["problems"][0]["status"] == "draft"
    # Not yet held against anyone: the cadre sees nothing, and the claim is untouched.
    assert client.get("/api/v1/findings", headers=cadre).json == []
    assert_error(
        client.get(f"/api/v1/findings/{draft.json['id']}", headers=cadre), 404, "finding_not_found"
    )
    assert_error(
        client.post(f"/api/v1/findings/{draft.json['id']}/signatures", headers=first),
        409,
        "already_signed",
    )
    assert_error(file_finding(client, assignment, second), 409, "finding_draft_exists")

    final = client.post(f"/api/v1/findings/{draft.json['id']}/signatures", headers=second)
    assert final.status_code == 200
    assert final.json["status"] == "final" and final.json["problems"][0]["status"] == "open"

    contradicted = db.session.get(Checkin, claim["id"])
    assert contradicted.verdict == "flagged"
    (flag,) = [f for f in contradicted.flags if f.code == "contradicted_by_inspection"]
    assert flag.severity == "critical" and flag.details["finding_id"] == draft.json["id"]
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "finding.final")
    ).scalar_one()
    assert event.summary["contradicted_checkins"] == [claim["id"]]
    # Now it is held against the cadre, they can see it (and answer it).
    assert [f["id"] for f in client.get("/api/v1/findings", headers=cadre).json] == [
        draft.json["id"]
    ]

    # The department publishes the draw; anyone checks it with the stand-alone verifier.
    reviewer = make.headers(world.reviewer_a)
    draw_id = assignment.draw_id
    assert client.post(f"/api/v1/draws/{draw_id}/reveal", headers=reviewer).status_code == 200
    proof = client.get(f"/api/v1/draws/{draw_id}/proof", headers=cadre).json
    outcome = verify(tmp_path, proof)
    assert outcome.returncode == 0 and "VERIFIED" in outcome.stdout, outcome.stdout


def test_a_final_finding_is_amended_never_edited(client, world, make, visit):
    assignment, (first, second), _ = visit
    original = file_finding(client, assignment, first).json
    client.post(f"/api/v1/findings/{original['id']}/signatures", headers=second)
    assert_error(file_finding(client, assignment, first), 409, "finding_exists")
    amendment = file_finding(
        client, assignment, second, outcome="on_leave", amends_id=original["id"], problems=[]
    )
    assert amendment.status_code == 201
    assert amendment.json["amends_id"] == original["id"]
    unchanged = client.get(f"/api/v1/findings/{original['id']}", headers=first).json
    assert unchanged["outcome"] == "absent" and unchanged["status"] == "final"


def test_only_the_team_files_and_signs(client, world, make, visit):
    assignment, (first, _), team = visit
    outsider = make.user("inspector", name="吴督查", jurisdiction=world.county_b)
    db.session.commit()
    assert_error(
        file_finding(client, assignment, make.headers(outsider)), 404, "assignment_not_found"
    )
    draft = file_finding(client, assignment, first).json
    response = client.post(
        f"/api/v1/findings/{draft['id']}/signatures", headers=make.headers(outsider)
    )
    assert_error(response, 404, "finding_not_found")
    # The department sees the draft, but cannot file or sign for the team.
    reviewer = make.headers(world.reviewer_a)
    assert client.get(f"/api/v1/findings/{draft['id']}", headers=reviewer).status_code == 200
    assert_error(file_finding(client, assignment, reviewer), 403, "role_required")


def test_an_arrival_far_from_the_target_is_flagged(client, world, make, visit):
    assignment, (first, _), _ = visit
    at = device_time()
    response = post(
        client,
        first,
        fields(
            captured_at=at,
            latitude=world.village_b1.latitude,
            longitude=world.village_b1.longitude,
            device_id="inspector-phone",
            kind=None,
        ),
        [photo_for(at, 32, world.village_b1.latitude, world.village_b1.longitude)],
        url=f"/api/v1/assignments/{assignment.id}/arrival",
    )
    assert "outside_geofence" in flag_codes(response)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"outcome": "asleep"}, "outcome"),
        ({"observed_at": "2099-01-01T00:00:00+08:00"}, "observed_at"),
        ({"arrival_checkin_id": 999999}, "arrival_checkin_id"),
        ({"amends_id": 999999}, "amends_id"),
    ],
)
def test_invalid_findings(client, world, make, visit, overrides, field):
    assignment, (first, _), _ = visit
    response = file_finding(client, assignment, first, **overrides)
    assert response.status_code == 422
    assert field in response.json["errors"]


def test_an_absence_found_earlier_puts_the_posting_in_the_key_stratum(client, world, make, visit):
    import json

    from server.models import Draw
    from server.services.draw_frames import pseudonym

    assignment, (first, second), _ = visit
    found = file_finding(client, assignment, first).json
    client.post(f"/api/v1/findings/{found['id']}/signatures", headers=second)
    reviewer = make.headers(world.reviewer_a)
    later = create(
        client,
        reviewer,
        scope_code=world.county_a.code,
        ratio="1",
        beacon_spec={"source": "next month's lottery"},
    ).json
    draw = db.session.get(Draw, later["id"])
    targets = {t["id"]: t for t in json.loads(draw.frame)["targets"]}
    assert targets[pseudonym(draw.salt, "posting", world.posting_a.id)]["key"] is True


def test_the_team_sees_the_inspected_postings_check_ins_and_photos(client, world, make, visit):
    assignment, (first, _), _ = visit
    claim = submit(client, make.headers(world.cadre_a)).json
    photo_id = claim["photos"][0]["id"]
    assert client.get(f"/api/v1/checkins/{claim['id']}", headers=first).status_code == 200
    assert client.get(f"/api/v1/photos/{photo_id}?variant=thumb", headers=first).status_code == 200
    outsider = make.user("inspector", name="冯督查", jurisdiction=world.county_a)
    db.session.commit()
    hidden = client.get(f"/api/v1/photos/{photo_id}", headers=make.headers(outsider))
    assert_error(hidden, 404, "photo_not_found")


def test_only_the_team_records_an_arrival(client, world, make, visit):
    assignment, _, _ = visit
    outsider = make.user("inspector", name="郑督查", jurisdiction=world.county_b)
    db.session.commit()
    at = device_time()
    url = f"/api/v1/assignments/{assignment.id}/arrival"
    form = fields(captured_at=at, device_id="x", kind=None)
    assert_error(
        post(client, make.headers(outsider), form, [photo_for(at, 41)], url=url),
        404,
        "assignment_not_found",
    )
    assert_error(
        post(client, make.headers(world.cadre_a), form, [photo_for(at, 42)], url=url),
        403,
        "role_required",
    )
    assert_error(post(client, visit[1][0], form, [], url=url), 422, "photo_required")
