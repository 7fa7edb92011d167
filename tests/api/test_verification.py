"""Each verification rule, end to end over HTTP: it fires when it should, with the
measured values a reviewer needs, and stays quiet when it should not."""

from datetime import timedelta

import pytest

from server.extensions import db
from tests import photos
from tests.api.checkin_kit import (
    POST,
    device_time,
    fields,
    flag,
    flag_codes,
    offset_point,
    photo_for,
    post,
    submit,
)


@pytest.fixture
def cadre(world, make):
    return make.headers(world.cadre_a)


def reviewed(client, make, world, response):
    """The check-in as its reviewer sees it (with other people's ids in the flags)."""
    checkin_id = response.json["id"]
    return client.get(f"/api/v1/checkins/{checkin_id}", headers=make.headers(world.reviewer_a))


def at_distance(north_m, **kwargs):
    lat, lon = offset_point(*POST, north_m=north_m)
    return {"latitude": lat, "longitude": lon, **kwargs}


# ---------------------------------------------------------------- geofence


@pytest.mark.parametrize(
    "north_m, accuracy, fires",
    [
        (300, 10, False),
        (1100, 150, False),  # 1000 m radius + 150 m accuracy
        (1100, 50, True),
        (1150, 500, False),  # accuracy allowance capped at 200 m
        (1250, 500, True),
        (3000, 10, True),
    ],
)
def test_outside_geofence(client, cadre, north_m, accuracy, fires):
    response = submit(client, cadre, **at_distance(north_m, accuracy_m=accuracy))
    assert ("outside_geofence" in flag_codes(response)) is fires
    if fires:
        details = flag(response, "outside_geofence")["details"]
        assert details["distance_m"] == pytest.approx(north_m, rel=0.01)
        assert details["allowed_m"] == 1000 + min(accuracy, 200)
        assert details["target"] == "village"
        assert flag(response, "outside_geofence")["severity"] == "high"
        assert response.json["verdict"] == "flagged"


def test_geofence_uses_the_villages_own_radius(client, world, cadre):
    world.village_a1.geofence_radius_m = 3000
    db.session.flush()
    assert "outside_geofence" not in flag_codes(submit(client, cadre, **at_distance(2500)))


# ---------------------------------------------------------------- accuracy, mock


@pytest.mark.parametrize("accuracy, fires", [(12, False), (200, False), (250, True), (0, True)])
def test_poor_accuracy(client, cadre, accuracy, fires):
    response = submit(client, cadre, accuracy_m=accuracy)
    assert ("poor_accuracy" in flag_codes(response)) is fires
    if fires:
        assert flag(response, "poor_accuracy")["severity"] == "low"


@pytest.mark.parametrize("mock, fires", [(True, True), (False, False), (None, False)])
def test_mock_location(client, cadre, mock, fires):
    response = submit(client, cadre, mock_location=mock)
    assert ("mock_location" in flag_codes(response)) is fires


# ---------------------------------------------------------------- photo EXIF


@pytest.mark.parametrize("north_m, fires", [(100, False), (450, False), (2000, True)])
def test_exif_gps_mismatch(client, cadre, north_m, fires):
    at = device_time()
    lat, lon = offset_point(*POST, north_m=north_m)
    photo = photo_for(at, lat=lat, lon=lon)
    response = post(client, cadre, fields(captured_at=at), [photo])
    assert ("exif_gps_mismatch" in flag_codes(response)) is fires
    if fires:
        details = flag(response, "exif_gps_mismatch")["details"]
        assert details["exif_latitude"] == pytest.approx(lat, abs=1e-6)
        assert details["distance_m"] == pytest.approx(north_m - 55, rel=0.05)


def test_photo_without_gps_is_not_a_mismatch(client, cadre):
    at = device_time()
    photo = photos.jpeg(3, taken=at.replace(tzinfo=None), offset="+08:00")
    assert "exif_gps_mismatch" not in flag_codes(
        post(client, cadre, fields(captured_at=at), [photo])
    )


@pytest.mark.parametrize("minutes, fires", [(5, False), (14, False), (30, True), (-90, True)])
def test_photo_time_mismatch(client, cadre, minutes, fires):
    at = device_time()
    photo = photo_for(at + timedelta(minutes=minutes))
    response = post(client, cadre, fields(captured_at=at), [photo])
    assert ("photo_time_mismatch" in flag_codes(response)) is fires
    if fires:
        assert flag(response, "photo_time_mismatch")["details"]["difference_min"] == abs(minutes)


def test_photo_time_without_offset_reads_in_the_devices_zone(client, cadre):
    at = device_time()
    local = at.replace(tzinfo=None)  # Beijing wall time, no offset written
    photo = photos.jpeg(5, lat=POST[0], lon=POST[1], taken=local)
    response = post(client, cadre, fields(captured_at=at), [photo])
    assert "photo_time_mismatch" not in flag_codes(response)


# ---------------------------------------------------------------- reuse


def test_reused_photo_names_the_earlier_check_in(client, world, make, cadre):
    yesterday = device_time(-timedelta(days=1))
    photo = photo_for(yesterday, seed=11)
    earlier = post(client, cadre, fields(captured_at=yesterday), [photo]).json
    # Another cadre sends the very same file.
    make.posting(world.aid_cadre_a, world.village_a2, world.unit_a)
    at = device_time()
    response = post(
        client,
        make.headers(world.aid_cadre_a),
        fields(captured_at=at, device_id="other-phone"),
        [photo],
    )
    # The cadre is told the photo was used before, not whose check-in it was.
    assert flag(response, "photo_reused")["details"]["match"] == "identical"
    assert "earlier_checkin_id" not in flag(response, "photo_reused")["details"]
    details = flag(reviewed(client, make, world, response), "photo_reused")["details"]
    assert details["match"] == "identical"
    assert details["earlier_checkin_id"] == earlier["id"]


def test_near_duplicate_photo_is_reused(client, world, make, cadre):
    yesterday = device_time(-timedelta(days=1))
    photo = photo_for(yesterday, seed=12)
    earlier = post(client, cadre, fields(captured_at=yesterday), [photo]).json
    response = post(client, cadre, fields(), [photos.reencoded(photo)])
    details = flag(reviewed(client, make, world, response), "photo_reused")["details"]
    assert details["match"] == "near_duplicate"
    assert details["earlier_checkin_id"] == earlier["id"]
    assert details["hamming_distance"] <= 8


def test_a_different_photo_is_not_reused(client, cadre):
    post(
        client,
        cadre,
        fields(captured_at=device_time(-timedelta(days=1))),
        [photo_for(device_time(), seed=13)],
    )
    assert "photo_reused" not in flag_codes(submit(client, cadre, photo_seed=14))


def test_a_check_in_s_own_photos_are_not_reuse(client, cadre):
    at = device_time()
    photo = photo_for(at, seed=15)
    response = post(client, cadre, fields(captured_at=at), [photo, photos.reencoded(photo)])
    assert response.status_code == 201
    assert len(response.json["photos"]) == 2
    assert "photo_reused" not in flag_codes(response)


# ---------------------------------------------------------------- travel and clock


def test_impossible_travel(client, world, cadre):
    start = device_time(-timedelta(hours=3))
    submit(client, cadre, captured_at=start)
    # Shou county's village B1 is about 17 km away: 5 minutes later is impossible.
    far = {"latitude": world.village_b1.latitude, "longitude": world.village_b1.longitude}
    response = submit(client, cadre, captured_at=start + timedelta(minutes=5), photo_seed=2, **far)
    details = flag(response, "impossible_travel")["details"]
    assert details["speed_kmh"] > 150 and details["distance_km"] == pytest.approx(16, abs=3)
    slow = submit(client, cadre, captured_at=start + timedelta(hours=2), photo_seed=3, **far)
    assert "impossible_travel" not in flag_codes(slow)


def test_impossible_travel_names_the_neighbour_before_when_both_are_too_far(client, world, cadre):
    start = device_time(-timedelta(hours=3))
    before = submit(client, cadre, captured_at=start).json
    submit(client, cadre, captured_at=start + timedelta(minutes=10), photo_seed=2)
    far = {"latitude": world.village_b1.latitude, "longitude": world.village_b1.longitude}
    response = submit(client, cadre, captured_at=start + timedelta(minutes=5), photo_seed=3, **far)
    assert flag(response, "impossible_travel")["details"]["other_checkin_id"] == before["id"]


def test_impossible_travel_with_out_of_order_sync(client, world, cadre):
    start = device_time(-timedelta(hours=3))
    far = {"latitude": world.village_b1.latitude, "longitude": world.village_b1.longitude}
    # The later check-in arrives first (the earlier one was queued offline).
    submit(client, cadre, captured_at=start + timedelta(minutes=5), **far)
    response = submit(client, cadre, captured_at=start, photo_seed=2)
    assert "impossible_travel" in flag_codes(response)


@pytest.mark.parametrize(
    "delta, reason",
    [
        (timedelta(minutes=10), "device_time_in_future"),
        (timedelta(minutes=1), None),
        (-timedelta(days=1), None),
        (-timedelta(days=4), "late_sync"),
    ],
)
def test_clock_skew(client, cadre, delta, reason):
    response = submit(client, cadre, captured_at=device_time(delta))
    if reason is None:
        assert "clock_skew" not in flag_codes(response)
    else:
        assert flag(response, "clock_skew")["details"]["reason"] == reason


# ---------------------------------------------------------------- device and position


def test_new_device_after_earlier_check_ins(client, cadre):
    first = submit(client, cadre, captured_at=device_time(-timedelta(hours=2)))
    assert "new_device" not in flag_codes(first)  # the very first check-in
    same = submit(client, cadre, captured_at=device_time(-timedelta(hours=1)), photo_seed=2)
    assert "new_device" not in flag_codes(same)
    other = submit(client, cadre, device_id="new-phone", photo_seed=3)
    assert flag(other, "new_device")["severity"] == "medium"


def test_device_shared_with_another_cadre(client, world, make, cadre):
    make.posting(world.aid_cadre_a, world.village_a2, world.unit_a)
    submit(client, make.headers(world.aid_cadre_a), device_id="shared-phone")
    response = submit(client, cadre, device_id="shared-phone", photo_seed=2)
    assert flag(response, "new_device")["severity"] == "high"
    assert "other_cadre_ids" not in flag(response, "new_device")["details"]
    shared = flag(reviewed(client, make, world, response), "new_device")
    assert shared["details"]["other_cadre_ids"] == [world.aid_cadre_a.id]


def test_repeated_position_on_another_day(client, cadre):
    spot = {"latitude": 32.7094123, "longitude": 116.7113456}
    submit(client, cadre, captured_at=device_time(-timedelta(days=1)), **spot)
    same_day = submit(
        client, cadre, captured_at=device_time(-timedelta(days=1, hours=-1)), photo_seed=2, **spot
    )
    assert "repeated_position" not in flag_codes(same_day)
    today = submit(client, cadre, photo_seed=3, **spot)
    assert flag(today, "repeated_position")["details"]["same_cadre"] is True
    moved = submit(client, cadre, photo_seed=4, latitude=32.7094134, longitude=116.7113456)
    assert "repeated_position" not in flag_codes(moved)


# ---------------------------------------------------------------- household visits


def test_first_visit_records_the_household_position_later_ones_are_checked(client, world, make):
    make.posting(world.aid_cadre_a, world.village_a2, world.unit_a, role="paired_aid")
    headers = make.headers(world.aid_cadre_a)
    home = offset_point(world.village_a2.latitude, world.village_a2.longitude, 300, 200)
    visit = {"kind": "household_visit", "household_id": world.household_a.id, "photo": False}
    first = submit(
        client,
        headers,
        latitude=home[0],
        longitude=home[1],
        captured_at=device_time(-timedelta(days=2)),
        **visit,
    )
    assert first.status_code == 201 and first.json["verdict"] == "accepted", first.json["flags"]
    assert (world.household_a.latitude, world.household_a.longitude) == pytest.approx(home)
    near = offset_point(*home, north_m=80)
    ok = submit(
        client,
        headers,
        latitude=near[0],
        longitude=near[1],
        captured_at=device_time(-timedelta(days=1)),
        **visit,
    )
    assert "outside_geofence" not in flag_codes(ok)
    away = offset_point(*home, north_m=700)  # still inside the village fence
    far = submit(client, headers, latitude=away[0], longitude=away[1], **visit)
    assert flag(far, "outside_geofence")["details"]["target"] == "household"


def test_a_suspicious_first_visit_does_not_set_the_household_position(client, world, make):
    make.posting(world.aid_cadre_a, world.village_a2, world.unit_a, role="paired_aid")
    submit(
        client,
        make.headers(world.aid_cadre_a),
        kind="household_visit",
        household_id=world.household_a.id,
        photo=False,
        mock_location=True,
        latitude=world.village_a2.latitude,
        longitude=world.village_a2.longitude,
    )
    assert world.household_a.latitude is None


def test_resend_with_a_reused_photo_flags_the_check_in(client, cadre):
    yesterday = device_time(-timedelta(days=1))
    old = photo_for(yesterday, seed=21)
    post(client, cadre, fields(captured_at=yesterday), [old])
    at = device_time()
    form = fields(captured_at=at)
    first = post(client, cadre, form, [photo_for(at, seed=22)])
    assert first.json["verdict"] == "accepted"
    resumed = post(client, cadre, form, [photo_for(at, seed=22), old])
    assert resumed.status_code == 200
    assert "photo_reused" in flag_codes(resumed) and resumed.json["verdict"] == "flagged"
