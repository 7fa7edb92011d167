"""People: who may create whom, with which roles, and how passwords are stored."""

import pytest

from server.extensions import db
from server.models import AuditEvent, User
from tests.test_platform import assert_error


def new_user(**overrides):
    body = {"name": "陈静", "phone": "13712345678", "roles": ["cadre"], "password": "Secret-123"}
    return {**body, **overrides}


def test_admin_creates_a_reviewer_with_a_hashed_password(client, world, make):
    body = new_user(roles=["reviewer"], jurisdiction_code="340421000000")
    response = client.post("/api/v1/users", json=body, headers=make.headers(world.admin))
    assert response.status_code == 201
    assert response.json["roles"] == ["reviewer"]
    assert response.json["has_password"] is True
    assert "password" not in response.json
    user = db.session.get(User, response.json["id"])
    assert user.password_hash.startswith("$argon2id$")
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "user.create")
    ).scalar_one()
    assert "Secret-123" not in str(event.summary)


def test_reviewer_creates_cadres_and_inspectors_only(client, world, make):
    headers = make.headers(world.reviewer_a)
    ok = client.post("/api/v1/users", json=new_user(), headers=headers)
    assert ok.status_code == 201
    escalate = client.post(
        "/api/v1/users", json=new_user(phone="13712345679", roles=["admin"]), headers=headers
    )
    assert_error(escalate, 403, "role_not_grantable")


def test_reviewer_cannot_give_an_inspector_another_jurisdiction(client, world, make):
    body = new_user(roles=["inspector"], jurisdiction_code="340422000000")
    response = client.post("/api/v1/users", json=body, headers=make.headers(world.reviewer_a))
    assert_error(response, 403, "out_of_jurisdiction")


def test_reviewer_cannot_promote_someone_to_admin(client, world, make):
    response = client.patch(
        f"/api/v1/users/{world.cadre_a.id}",
        json={"roles": ["cadre", "admin"]},
        headers=make.headers(world.reviewer_a),
    )
    assert_error(response, 403, "role_not_grantable")
    assert world.cadre_a.roles == ["cadre"]


def test_city_reviewer_cannot_edit_a_county_reviewer(client, world, make):
    response = client.patch(
        f"/api/v1/users/{world.reviewer_b.id}",
        json={"name": "x"},
        headers=make.headers(world.city_reviewer),
    )
    assert_error(response, 403, "role_not_grantable")


def test_phone_numbers_are_unique(client, world, make):
    body = new_user(phone=world.cadre_b.phone)
    response = client.post("/api/v1/users", json=body, headers=make.headers(world.admin))
    assert_error(response, 409, "phone_taken")


@pytest.mark.parametrize(
    "field, value",
    [
        ("phone", "12345678901"),
        ("phone", "1390554000"),
        ("password", "short1"),
        ("password", "12345678901"),
        ("password", "onlyletters"),
        ("roles", []),
        ("roles", ["mayor"]),
        ("name", ""),
        ("jurisdiction_code", "3404"),
    ],
)
def test_invalid_fields(client, world, make, field, value):
    response = client.post(
        "/api/v1/users", json=new_user(**{field: value}), headers=make.headers(world.admin)
    )
    assert_error(response, 422, "validation_error")
    assert field in response.json["errors"]


def test_unknown_unit_and_region(client, world, make):
    admin = make.headers(world.admin)
    response = client.post("/api/v1/users", json=new_user(unit_id=9999), headers=admin)
    assert_error(response, 422, "unit_not_found")
    response = client.post(
        "/api/v1/users", json=new_user(home_region_code="340421999000"), headers=admin
    )
    assert_error(response, 422, "region_not_found")


def test_password_change_by_admin_is_audited_without_the_password(client, world, make):
    response = client.patch(
        f"/api/v1/users/{world.cadre_a.id}",
        json={"password": "New-pass-2026", "active": False},
        headers=make.headers(world.admin),
    )
    assert response.status_code == 200
    assert response.json["active"] is False
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "user.update")
    ).scalar_one()
    assert event.summary == {"active": [True, False], "password": "changed", "sessions_revoked": 0}


def test_list_filters(client, world, make):
    headers = make.headers(world.city_reviewer)

    def names(query):
        return {u["name"] for u in client.get("/api/v1/users?" + query, headers=headers).json}

    assert names("role=inspector") == {"赵督查"}
    assert names("within=340422000000") == {"李娜", "寿县县委组织部"}
    assert names("q=张") == {"张伟"}
    assert names(f"unit_id={world.unit_b.id}") == {"李娜", "赵督查"}


def test_a_new_password_ends_existing_log_ins(client, world, make):
    old = client.post(
        "/api/v1/auth/login",
        json={"phone": world.cadre_a.phone, "password": "test-pass-123", "device_id": "p"},
    ).json
    client.patch(
        f"/api/v1/users/{world.cadre_a.id}",
        json={"password": "Brand-new-9"},
        headers=make.headers(world.admin),
    )
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {old['access_token']}"})
    assert_error(me, 401, "session_revoked")
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": old["refresh_token"]})
    assert_error(refreshed, 401, "session_revoked")


def test_a_reviewer_cannot_take_over_a_cadre_serving_elsewhere(client, world, make):
    """The attack: post another county's cadre into your own county, then reset the
    password. Both steps must fail, and the first must not even confirm they exist."""
    headers = make.headers(world.reviewer_a)
    response = client.post(
        "/api/v1/postings",
        json={
            "cadre_id": world.cadre_b.id,
            "village_code": world.village_a2.code,
            "unit_id": world.unit_a.id,
            "role": "paired_aid",
            "start_date": "2026-03-01",
        },
        headers=headers,
    )
    assert_error(response, 422, "cadre_not_found")
    missing = client.post(
        "/api/v1/postings",
        json={
            "cadre_id": 999999,
            "village_code": world.village_a2.code,
            "unit_id": world.unit_a.id,
            "role": "paired_aid",
            "start_date": "2026-03-01",
        },
        headers=headers,
    )
    assert response.json["message"].replace(str(world.cadre_b.id), "N") == missing.json[
        "message"
    ].replace("999999", "N")
    hijack = client.patch(
        f"/api/v1/users/{world.cadre_b.id}", json={"password": "Hijacked-123"}, headers=headers
    )
    assert hijack.status_code == 404


def test_a_cadre_who_moved_away_belongs_to_the_new_county(client, world, make):
    world.posting_a.status = "ended"
    make.posting(
        world.cadre_a,
        world.village_b1,
        world.unit_b,
        start=world.posting_a.start_date.replace(year=2027),
    )
    db.session.commit()
    response = client.patch(
        f"/api/v1/users/{world.cadre_a.id}",
        json={"active": False},
        headers=make.headers(world.reviewer_a),
    )
    assert response.status_code in (403, 404)
    assert world.cadre_a.active is True
