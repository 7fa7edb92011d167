"""Regions: official 12-digit codes, levels implied by the code, parents by prefix."""

import pytest

from server.extensions import db
from server.models import AuditEvent, Region
from tests.test_platform import assert_error


@pytest.fixture
def admin(world, make):
    return make.headers(world.admin)


def create(client, headers, **body):
    return client.post("/api/v1/regions", json=body, headers=headers)


def test_admin_creates_a_village_under_its_township(client, world, admin):
    response = create(
        client, admin, code="340421100203", name="北湖村委会", latitude=32.71, longitude=116.70
    )
    assert response.status_code == 201
    assert response.json["level"] == "village"
    assert response.json["parent_code"] == "340421100000"
    assert response.json["geofence_radius_m"] == 1000
    region = db.session.get(Region, response.json["id"])
    assert region.parent_id == world.township_a.id
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "region.create")
    ).scalar_one()
    assert event.object_id == str(region.id)
    assert event.summary == {"code": "340421100203", "name": "北湖村委会"}


@pytest.mark.parametrize(
    "code, error",
    [
        ("34042110020", "validation_error"),  # 11 digits
        ("3404211002011", "validation_error"),  # 13 digits
        ("34042110020a", "validation_error"),
        ("340400000001", "invalid_division_code"),  # village of no township
        ("000000000000", "invalid_division_code"),
        ("340421999001", "invalid_division_code"),  # its township 999 does not exist
        ("350000000000", None),  # a new province needs no parent
    ],
)
def test_division_codes_are_checked(client, world, admin, code, error):
    response = create(client, admin, code=code, name="测试")
    if error is None:
        assert response.status_code == 201
    else:
        assert_error(response, 422, error)
        assert "code" in response.json["errors"]


def test_declared_level_must_match_the_code(client, world, admin):
    response = create(client, admin, code="340421100203", name="x", level="township")
    assert_error(response, 422, "invalid_division_code")


def test_duplicate_code_is_a_conflict(client, world, admin):
    assert_error(create(client, admin, code="340421100201", name="x"), 409, "region_exists")


def test_only_villages_have_a_position(client, world, admin):
    response = create(client, admin, code="340421101000", name="x", latitude=32.7, longitude=116.7)
    assert_error(response, 422, "position_only_for_villages")


def test_latitude_and_longitude_come_together(client, world, admin):
    response = create(client, admin, code="340421100203", name="x", latitude=32.7)
    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize("field, value", [("latitude", 91), ("longitude", -181)])
def test_coordinates_out_of_range(client, world, admin, field, value):
    body = {"latitude": 32.0, "longitude": 116.0, field: value}
    response = create(client, admin, code="340421100203", name="x", **body)
    assert_error(response, 422, "validation_error")
    assert field in response.json["errors"]


def test_reviewers_cannot_create_regions(client, world, make):
    response = create(client, make.headers(world.city_reviewer), code="340421100203", name="x")
    assert_error(response, 403, "role_required")


def test_admin_moves_a_village_post_and_the_change_is_audited(client, world, admin):
    response = client.patch(
        f"/api/v1/regions/{world.village_a1.id}",
        json={"latitude": 32.7, "longitude": 116.72, "geofence_radius_m": 1500},
        headers=admin,
    )
    assert response.status_code == 200
    assert response.json["geofence_radius_m"] == 1500
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "region.update")
    ).scalar_one()
    assert event.summary["geofence_radius_m"] == [1000, 1500]


def test_code_cannot_be_changed(client, world, admin):
    response = client.patch(
        f"/api/v1/regions/{world.village_a1.id}", json={"code": "340421100299"}, headers=admin
    )
    assert_error(response, 422, "validation_error")


def test_list_filters(client, world, admin):
    def codes(query):
        return [r["code"] for r in client.get("/api/v1/regions?" + query, headers=admin).json]

    assert codes("level=village") == ["340421100201", "340421100202", "340422100201"]
    assert codes("parent=340421100000") == ["340421100201", "340421100202"]
    assert codes("within=340422000000") == ["340422000000", "340422100000", "340422100201"]
    assert codes("q=湖") == ["340421100201", "340421100202"]
    assert codes("q=%25") == []  # LIKE wildcards are literal
    assert_error(client.get("/api/v1/regions?level=hamlet", headers=admin), 422, "validation_error")
    assert_error(client.get("/api/v1/regions?parent=12", headers=admin), 422, "validation_error")
