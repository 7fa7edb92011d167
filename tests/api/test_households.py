"""Households paired with aid cadres."""

from server.extensions import db
from server.models import AuditEvent, Household
from tests.test_platform import assert_error


def test_reviewer_registers_a_household_with_its_aid_cadre(client, world, make):
    response = client.post(
        "/api/v1/households",
        json={
            "village_code": world.village_a2.code,
            "code": "XH-007",
            "head_name": "刘长顺",
            "latitude": 32.721,
            "longitude": 116.69,
            "cadre_ids": [world.aid_cadre_a.id],
        },
        headers=make.headers(world.reviewer_a),
    )
    assert response.status_code == 201
    assert response.json["cadre_ids"] == [world.aid_cadre_a.id]
    household = db.session.get(Household, response.json["id"])
    assert household.cadres == [world.aid_cadre_a]
    assert db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "household.create")
    ).scalar_one()


def test_the_paired_cadre_sees_it(client, world, make):
    listed = client.get("/api/v1/households", headers=make.headers(world.aid_cadre_a)).json
    assert [h["id"] for h in listed] == [world.household_a.id]


def test_household_codes_are_unique_per_village(client, world, make):
    response = client.post(
        "/api/v1/households",
        json={
            "village_code": world.village_a2.code,
            "code": world.household_a.code,
            "head_name": "x",
        },
        headers=make.headers(world.admin),
    )
    assert_error(response, 409, "household_exists")


def test_pairing_needs_real_cadres(client, world, make):
    response = client.post(
        "/api/v1/households",
        json={
            "village_code": world.village_a2.code,
            "code": "H-1",
            "head_name": "x",
            "cadre_ids": [world.reviewer_a.id],
        },
        headers=make.headers(world.admin),
    )
    assert_error(response, 422, "cadre_not_found")


def test_position_needs_both_coordinates(client, world, make):
    response = client.post(
        "/api/v1/households",
        json={
            "village_code": world.village_a2.code,
            "code": "H-1",
            "head_name": "x",
            "longitude": 116.7,
        },
        headers=make.headers(world.admin),
    )
    assert_error(response, 422, "validation_error")


def test_re_pairing_is_audited(client, world, make):
    response = client.patch(
        f"/api/v1/households/{world.household_a.id}",
        json={"cadre_ids": [world.aid_cadre_a.id, world.cadre_a.id]},
        headers=make.headers(world.reviewer_a),
    )
    assert response.status_code == 200
    assert sorted(response.json["cadre_ids"]) == sorted([world.aid_cadre_a.id, world.cadre_a.id])
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "household.update")
    ).scalar_one()
    assert event.summary["cadre_ids"][0] == [world.aid_cadre_a.id]
