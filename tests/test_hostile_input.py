"""Bad input gets a clear 4xx in the error shape, never a 500: found by review, kept
here so it stays fixed."""

import io
import json
from datetime import timedelta

import pytest
from PIL import Image

from server.extensions import db
from tests.api.checkin_kit import device_time, fields, flag_codes, post, submit
from tests.test_platform import assert_error


@pytest.fixture
def cadre(world, make):
    return make.headers(world.cadre_a)


@pytest.mark.parametrize(
    "where",
    ["json", "query", "form"],
)
def test_nul_characters_are_refused(client, world, make, cadre, where):
    if where == "json":
        response = client.patch(
            f"/api/v1/users/{world.cadre_a.id}",
            json={"name": "张\x00伟"},
            headers=make.headers(world.admin),
        )
    elif where == "query":
        response = client.get("/api/v1/users?q=a%00b", headers=make.headers(world.admin))
    else:
        response = post(client, cadre, fields(note="a\x00b"))
    assert_error(response, 422, "nul_character")


@pytest.mark.parametrize(
    "path",
    ["/api/v1/checkins/2147483648", "/api/v1/postings/99999999999999999999999"],
)
def test_ids_beyond_the_database_range_are_404(client, world, make, path):
    assert_error(client.get(path, headers=make.headers(world.admin)), 404, "not_found")


@pytest.mark.parametrize(
    "query", ["cadre_id=2147483648", "cadre_id=0", "cadre_id=1.5", "unit_id=-3"]
)
def test_ids_in_queries_are_bounded(client, world, make, query):
    response = client.get(f"/api/v1/postings?{query}", headers=make.headers(world.admin))
    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize("value", [1e300, 1.5, True, 2**63])
def test_ids_in_bodies_are_whole_and_bounded(client, world, make, value):
    response = client.patch(
        f"/api/v1/postings/{world.posting_a.id}",
        data=json.dumps({"unit_id": value}),
        content_type="application/json",
        headers=make.headers(world.admin),
    )
    assert_error(response, 422, "validation_error")


def test_a_page_far_beyond_the_end_is_empty(client, world, make):
    response = client.get(
        "/api/v1/postings?page=99999999999999999999", headers=make.headers(world.admin)
    )
    assert response.status_code == 200 and response.json == []


def test_deeply_nested_json_is_400(client):
    response = client.post("/api/v1/auth/login", data="[" * 50_000, content_type="application/json")
    assert_error(response, 400, "malformed_json")


@pytest.mark.parametrize(
    "captured_at",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "1970-01-01T08:00:00+08:00"],
)
def test_implausible_device_times_are_refused(client, cadre, captured_at):
    form = fields()
    form["captured_at"] = captured_at
    response = post(client, cadre, form)
    assert_error(response, 422, "validation_error")
    assert "captured_at" in response.json["errors"]


@pytest.mark.parametrize("phone", ["13900000001\n", "１３９００００００１", "1390000000１"])
def test_phones_are_ascii_digits_only(client, world, make, phone):
    response = client.post(
        "/api/v1/users",
        json={"name": "x", "phone": phone, "roles": ["cadre"]},
        headers=make.headers(world.admin),
    )
    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize("mode", ["P", "1", "I;16", "LA"])
def test_unusual_png_modes_are_accepted(client, cadre, mode):
    image = Image.new("RGB", (800, 600), (40, 160, 90)).convert(mode)
    out = io.BytesIO()
    image.save(out, "PNG")
    response = post(client, cadre, fields(), [out.getvalue()])
    assert response.status_code == 201, response.json
    assert response.json["photos"][0]["format"] == "png"


def test_a_batch_item_with_an_impossible_date_does_not_block_the_queue(client, world, make):
    items = []
    for captured_at in [
        device_time(-timedelta(hours=2)).isoformat(),
        "0001-01-01T00:00:00+14:00",
        device_time(-timedelta(hours=1)).isoformat(),
    ]:
        item = fields(captured_at=device_time(), kind="departure")
        item["captured_at"] = captured_at
        item["latitude"], item["longitude"] = float(item["latitude"]), float(item["longitude"])
        items.append(item)
    response = client.post(
        "/api/v1/checkins/batch",
        data={"items": json.dumps(items)},
        headers=make.headers(world.cadre_a),
        content_type="multipart/form-data",
    )
    # The schema checks the whole batch: a bad item is named, and nothing is half-done.
    assert_error(response, 422, "validation_error")
    assert "items" in response.json["errors"]


def test_a_village_without_a_post_position_is_flagged(client, world, cadre):
    world.village_a1.latitude = world.village_a1.longitude = None
    db.session.commit()
    response = submit(client, cadre)
    assert "no_reference_position" in flag_codes(response)
    assert response.json["verdict"] == "flagged"


def test_clearing_a_villages_radius_restores_the_default(client, world, make):
    response = client.patch(
        f"/api/v1/regions/{world.village_a1.id}",
        json={"geofence_radius_m": None},
        headers=make.headers(world.admin),
    )
    assert response.json["geofence_radius_m"] == 1000


def test_a_check_in_outside_the_postings_dates_counts_for_nothing(client, world, cadre):
    world.posting_a.start_date = (device_time() + timedelta(days=10)).date()
    db.session.commit()
    assert_error(submit(client, cadre), 409, "no_active_posting")


def test_originals_are_never_cached(client, cadre):
    created = submit(client, cadre).json
    photo_id = created["photos"][0]["id"]
    original = client.get(f"/api/v1/photos/{photo_id}?variant=original", headers=cadre)
    assert original.headers["Cache-Control"] == "no-store"
