"""Remote roll-calls: challenged at an unpredictable moment, answered with a live
check-in, outcomes recorded for the department."""

from datetime import timedelta

import pytest

from server.extensions import db
from server.models import Challenge, Draw
from server.models.types import utcnow
from server.services import rollcalls
from server.tools import drawing
from tests.api.checkin_kit import device_time, submit
from tests.api.test_draws import create
from tests.test_platform import assert_error


@pytest.fixture
def rollcall(client, world, make):
    """A roll-call over county A (one posting: cadre_a's), executed."""
    reviewer = make.headers(world.reviewer_a)
    draw = create(
        client,
        reviewer,
        scope_code=world.county_a.code,
        kind="rollcall",
        team_size=0,
        ratio="1",
        window_start=(utcnow() - timedelta(hours=3)).isoformat(),
        window_end=(utcnow() + timedelta(hours=1)).isoformat(),
    )
    assert draw.status_code == 201, draw.json
    executed = client.post(
        f"/api/v1/draws/{draw.json['id']}/execute", json={"beacon_value": "11"}, headers=reviewer
    )
    assert executed.status_code == 200, executed.json
    challenge = db.session.execute(db.select(Challenge)).scalar_one()
    return db.session.get(Draw, draw.json["id"]), challenge


def at(challenge, issued_minutes_ago, deadline_in_minutes):
    """Move the challenge in time (its scheduling is tested on its own, below)."""
    challenge.issue_at = utcnow() - timedelta(minutes=issued_minutes_ago)
    challenge.deadline = utcnow() + timedelta(minutes=deadline_in_minutes)
    db.session.commit()


def test_challenge_times_follow_the_published_rule(rollcall, world):
    draw, challenge = rollcall
    assert challenge.cadre_id == world.cadre_a.id
    span = int((draw.window_end - draw.window_start).total_seconds()) - 30 * 60
    target = draw.result["targets"][0]["id"]
    offset = drawing.challenge_offset(bytes.fromhex(draw.seed), target, span)
    assert challenge.issue_at == draw.window_start + timedelta(seconds=offset)
    assert challenge.deadline == challenge.issue_at + timedelta(minutes=30)
    assert draw.window_start <= challenge.issue_at and challenge.deadline <= draw.window_end


def test_a_challenge_is_invisible_before_it_is_issued(client, world, make, rollcall):
    _, challenge = rollcall
    cadre = make.headers(world.cadre_a)
    at(challenge, -10, 40)  # issued ten minutes from now
    assert client.get("/api/v1/me/challenges", headers=cadre).json == []
    response = submit(client, cadre, challenge_id=challenge.id)
    assert_error(response, 422, "challenge_not_found")


def test_answered_in_time(client, world, make, rollcall):
    _, challenge = rollcall
    cadre = make.headers(world.cadre_a)
    at(challenge, 5, 25)
    (shown,) = client.get("/api/v1/me/challenges", headers=cadre).json
    assert shown["id"] == challenge.id and shown["status"] == "open"
    answer = submit(client, cadre, challenge_id=challenge.id)
    assert answer.status_code == 201, answer.json
    (shown,) = client.get("/api/v1/me/challenges", headers=cadre).json
    assert shown["status"] == "answered" and shown["answered_checkin_id"] == answer.json["id"]
    listed = client.get("/api/v1/assignments", headers=make.headers(world.reviewer_a)).json
    assert listed[0]["challenge"]["status"] == "answered"
    again = submit(client, cadre, challenge_id=challenge.id, photo_seed=2)
    assert_error(again, 409, "challenge_answered")


def test_late_and_unanswered(client, world, make, rollcall):
    _, challenge = rollcall
    cadre = make.headers(world.cadre_a)
    at(challenge, 60, -30)
    assert client.get("/api/v1/me/challenges", headers=cadre).json[0]["status"] == "unanswered"
    submit(client, cadre, challenge_id=challenge.id)
    assert client.get("/api/v1/me/challenges", headers=cadre).json[0]["status"] == "late"


def test_an_old_check_in_is_no_answer(client, world, make, rollcall):
    _, challenge = rollcall
    at(challenge, 5, 25)
    response = submit(
        client,
        make.headers(world.cadre_a),
        challenge_id=challenge.id,
        captured_at=device_time(-timedelta(hours=1)),
    )
    assert_error(response, 422, "answer_predates_challenge")


def test_nobody_else_can_answer(client, world, make, rollcall):
    _, challenge = rollcall
    at(challenge, 5, 25)
    assert client.get("/api/v1/me/challenges", headers=make.headers(world.cadre_b)).json == []
    response = submit(
        client,
        make.headers(world.cadre_b),
        challenge_id=challenge.id,
        latitude=world.village_b1.latitude,
        longitude=world.village_b1.longitude,
    )
    assert_error(response, 422, "challenge_not_found")


def test_rfc3797_roll_calls_time_from_the_public_numbers(client, world, make):
    reviewer = make.headers(world.reviewer_a)
    draw = create(
        client,
        reviewer,
        scope_code=world.county_a.code,
        kind="rollcall",
        team_size=0,
        mode="rfc3797",
        count=1,
        ratio=None,
    ).json
    client.post(
        f"/api/v1/draws/{draw['id']}/execute", json={"sources": [[1, 2, 3]]}, headers=reviewer
    )
    stored = db.session.get(Draw, draw["id"])
    assert rollcalls.timing_seed(stored) == drawing.h(b"rfc3797-v1", stored.beacon_value)
    assert db.session.execute(db.select(Challenge)).scalar_one() is not None


def test_only_cadres_have_challenges(client, world, make):
    for user in (world.reviewer_a, world.inspector_a):
        response = client.get("/api/v1/me/challenges", headers=make.headers(user))
        assert_error(response, 403, "role_required")
