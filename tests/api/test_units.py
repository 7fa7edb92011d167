"""Dispatching units."""

from server.extensions import db
from server.models import AuditEvent, Unit
from tests.test_platform import assert_error


def test_reviewer_creates_a_unit_in_their_jurisdiction(client, world, make):
    response = client.post(
        "/api/v1/units",
        json={"name": "凤台县农业农村局", "level": "county", "region_code": "340421000000"},
        headers=make.headers(world.reviewer_a),
    )
    assert response.status_code == 201
    assert response.json["region_code"] == "340421000000"
    assert db.session.get(Unit, response.json["id"]).name == "凤台县农业农村局"
    assert db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "unit.create")
    ).scalar_one()


def test_reviewer_cannot_create_a_unit_elsewhere(client, world, make):
    response = client.post(
        "/api/v1/units",
        json={"name": "寿县农业农村局", "level": "county", "region_code": "340422000000"},
        headers=make.headers(world.reviewer_a),
    )
    assert_error(response, 403, "out_of_jurisdiction")


def test_unit_names_are_unique(client, world, make):
    response = client.post(
        "/api/v1/units",
        json={"name": "凤台县财政局", "level": "county", "region_code": "340421000000"},
        headers=make.headers(world.admin),
    )
    assert_error(response, 409, "unit_exists")


def test_unknown_region_and_bad_level(client, world, make):
    admin = make.headers(world.admin)
    unknown = client.post(
        "/api/v1/units",
        json={"name": "x", "level": "county", "region_code": "340499000000"},
        headers=admin,
    )
    assert_error(unknown, 422, "region_not_found")
    bad = client.post(
        "/api/v1/units",
        json={"name": "x", "level": "village", "region_code": "340421000000"},
        headers=admin,
    )
    assert_error(bad, 422, "validation_error")


def test_cadres_cannot_create_units(client, world, make):
    response = client.post(
        "/api/v1/units",
        json={"name": "x", "level": "county", "region_code": "340421000000"},
        headers=make.headers(world.cadre_a),
    )
    assert_error(response, 403, "role_required")


def test_rename_is_audited_with_old_and_new(client, world, make):
    response = client.patch(
        f"/api/v1/units/{world.unit_a.id}",
        json={"name": "凤台县财政局（新）"},
        headers=make.headers(world.reviewer_a),
    )
    assert response.status_code == 200
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "unit.update")
    ).scalar_one()
    assert event.summary == {"name": ["凤台县财政局", "凤台县财政局（新）"]}


def test_moving_a_unit_out_of_jurisdiction_is_refused(client, world, make):
    response = client.patch(
        f"/api/v1/units/{world.unit_a.id}",
        json={"region_code": "340422000000"},
        headers=make.headers(world.reviewer_a),
    )
    assert_error(response, 403, "out_of_jurisdiction")


def test_list_filters(client, world, make):
    headers = make.headers(world.cadre_a)
    names = [
        u["name"] for u in client.get("/api/v1/units?within=340422000000", headers=headers).json
    ]
    assert names == ["寿县教育局"]
    names = [u["name"] for u in client.get("/api/v1/units?q=财政", headers=headers).json]
    assert names == ["凤台县财政局"]
