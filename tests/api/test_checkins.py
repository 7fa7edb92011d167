"""Submitting check-ins over HTTP: what is recorded, and what is refused."""

import hashlib
import io
import uuid

import pytest
from PIL import Image

from server import storage
from server.extensions import db
from server.models import AuditEvent, Checkin, Photo
from tests import photos
from tests.api.checkin_kit import POST, device_time, fields, photo_for, post, submit
from tests.test_platform import assert_error


@pytest.fixture
def cadre(world, make):
    return make.headers(world.cadre_a)


def test_an_honest_check_in_is_accepted_with_its_evidence(client, world, cadre):
    at = device_time()
    photo = photo_for(at, seed=7)
    form = fields(
        captured_at=at,
        latitude=POST[0] + 0.0005,
        longitude=POST[1],
        altitude_m=30.5,
        note="入户走访前到村委会",
    )
    response = post(client, cadre, form, [photo])
    assert response.status_code == 201, response.json
    body = response.json
    assert body["verdict"] == "accepted" and body["flags"] == []
    assert body["client_id"] == form["client_id"]
    assert body["posting_id"] == world.posting_a.id
    assert body["village_code"] == world.village_a1.code
    assert body["captured_at"] == at.isoformat()
    assert body["distance_m"] == pytest.approx(55.4, abs=1)
    assert body["received_at"]
    (shown,) = body["photos"]
    assert shown["sha256"] == hashlib.sha256(photo).hexdigest()
    assert shown["format"] == "jpeg" and (shown["width"], shown["height"]) == (640, 480)
    assert len(shown["phash"]) == 16
    assert shown["exif_latitude"] == pytest.approx(POST[0], abs=1e-6)
    assert shown["exif_taken_at"] == at.replace(tzinfo=None).isoformat() + "+08:00"
    # The original bytes are kept unchanged, under their hash.
    assert storage.read(shown["sha256"]) == photo
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "checkin.submit")
    ).scalar_one()
    assert event.summary["photos"] == [shown["sha256"]]


def test_get_returns_the_same_as_submit(client, cadre):
    created = submit(client, cadre).json
    assert client.get(f"/api/v1/checkins/{created['id']}", headers=cadre).json == created


def test_local_date_is_the_day_in_china(client, cadre):
    # 23:30 UTC is 07:30 the next morning in Beijing.
    at = device_time().replace(hour=7, minute=30) - __import__("datetime").timedelta(days=1)
    response = submit(client, cadre, captured_at=at)
    assert response.json["local_date"] == at.date().isoformat()


# ---------------------------------------------------------------- rejections


def test_photo_required_for_presence(client, cadre):
    assert_error(submit(client, cadre, photo=False), 422, "photo_required")
    assert db.session.execute(db.select(Checkin)).first() is None


def test_departure_needs_no_photo(client, cadre):
    assert submit(client, cadre, photo=False, kind="departure").status_code == 201


@pytest.mark.parametrize(
    "override, field",
    [
        ({"client_id": "not-a-uuid"}, "client_id"),
        ({"kind": "nap"}, "kind"),
        ({"latitude": 91}, "latitude"),
        ({"longitude": "east"}, "longitude"),
        ({"accuracy_m": -1}, "accuracy_m"),
        ({"captured_at": "2026-11-26T08:00:00"}, "captured_at"),  # no offset
        ({"household_id": 1}, "household_id"),  # only for visits
        ({"kind": "household_visit"}, "household_id"),
        ({"colour": "red"}, "colour"),
        ({"client_id": None}, "client_id"),
    ],
)
def test_invalid_fields(client, cadre, override, field):
    form = fields()
    form.update(override)
    form = {k: v for k, v in form.items() if v is not None}
    response = post(client, cadre, form, [photo_for(device_time())])
    assert_error(response, 422, "validation_error")
    assert field in response.json["errors"]


def test_more_than_three_photos(client, cadre):
    at = device_time()
    files = [photo_for(at, seed) for seed in range(4)]
    response = post(client, cadre, fields(captured_at=at), files)
    assert_error(response, 422, "validation_error")


def test_not_an_image_is_415_and_nothing_is_stored(client, cadre, app):
    response = post(client, cadre, fields(), [b"%PDF-1.7 not a photo"])
    assert_error(response, 415, "photo_unsupported_format")
    assert response.json["errors"]["photo_index"] == 0
    assert db.session.execute(db.select(Photo)).first() is None


def test_oversized_photo_is_413(client, cadre, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_PHOTO_BYTES", 10_000)
    response = submit(client, cadre)
    assert_error(response, 413, "photo_too_large")


def test_truncated_photo_is_422(client, cadre):
    photo = photo_for(device_time())
    response = post(client, cadre, fields(), [photo[: len(photo) // 2]])
    assert_error(response, 422, "photo_undecodable")


def test_cadre_without_posting(client, make):
    response = submit(client, make.headers(make.user("cadre")))
    assert_error(response, 409, "no_active_posting")


def test_only_cadres_check_in(client, world, make):
    assert_error(submit(client, make.headers(world.reviewer_a)), 403, "role_required")
    assert_error(submit(client, {}), 401, "unauthorized")


def test_household_visit_needs_a_paired_household(client, world, make):
    response = submit(
        client,
        make.headers(world.cadre_a),
        kind="household_visit",
        household_id=world.household_a.id,
    )
    assert_error(response, 422, "household_not_found")


# ---------------------------------------------------------------- idempotency


def test_identical_resend_returns_the_original(client, cadre):
    at = device_time()
    form, photo = fields(captured_at=at), photo_for(at)
    first = post(client, cadre, form, [photo])
    again = post(client, cadre, form, [photo])
    assert first.status_code == 201 and again.status_code == 200
    assert again.json == first.json
    assert db.session.execute(db.select(db.func.count(Checkin.id))).scalar_one() == 1


def test_resend_adds_the_photo_that_was_missing(client, cadre):
    at = device_time()
    form = fields(captured_at=at)
    first_photo, second_photo = photo_for(at, seed=1), photo_for(at, seed=2)
    first = post(client, cadre, form, [first_photo])
    resumed = post(client, cadre, form, [first_photo, second_photo])
    assert resumed.status_code == 200
    assert resumed.json["id"] == first.json["id"]
    assert [p["sha256"] for p in resumed.json["photos"]] == [
        hashlib.sha256(first_photo).hexdigest(),
        hashlib.sha256(second_photo).hexdigest(),
    ]
    assert storage.exists(hashlib.sha256(second_photo).hexdigest())


def test_same_client_id_with_other_content_is_409(client, cadre):
    form = fields()
    post(client, cadre, form, [photo_for(device_time())])
    form["latitude"] = form["latitude"] + 0.001
    response = post(client, cadre, form, [photo_for(device_time())])
    assert_error(response, 409, "checkin_conflict")


def test_another_cadres_client_id_is_409(client, world, make):
    form = fields()
    post(client, make.headers(world.cadre_a), form, [photo_for(device_time())])
    make.posting(world.aid_cadre_a, world.village_a2, world.unit_a)
    response = post(client, make.headers(world.aid_cadre_a), form, [photo_for(device_time())])
    assert_error(response, 409, "checkin_conflict")


# ---------------------------------------------------------------- reading


def test_cadre_lists_own_history_and_reviewers_their_scope(client, world, make, cadre):
    mine = submit(client, cadre).json
    make.posting(world.aid_cadre_a, world.village_b1, world.unit_b, role="team_member")
    listed = client.get("/api/v1/checkins", headers=cadre).json
    assert [c["id"] for c in listed] == [mine["id"]]
    assert client.get("/api/v1/checkins", headers=make.headers(world.cadre_b)).json == []
    assert_error(
        client.get(f"/api/v1/checkins/{mine['id']}", headers=make.headers(world.cadre_b)),
        404,
        "checkin_not_found",
    )
    in_scope = client.get("/api/v1/checkins", headers=make.headers(world.reviewer_a)).json
    assert [c["id"] for c in in_scope] == [mine["id"]]
    assert client.get("/api/v1/checkins", headers=make.headers(world.reviewer_b)).json == []


def test_list_filters(client, world, make, cadre):
    accepted = submit(client, cadre).json
    flagged = submit(client, cadre, photo_seed=2, mock_location=True).json
    reviewer = make.headers(world.reviewer_a)

    def ids(query):
        return [c["id"] for c in client.get("/api/v1/checkins?" + query, headers=reviewer).json]

    assert ids("verdict=flagged") == [flagged["id"]]
    assert ids("flag=mock_location") == [flagged["id"]]
    assert ids("verdict=accepted") == [accepted["id"]]
    assert set(ids(f"posting_id={world.posting_a.id}")) == {accepted["id"], flagged["id"]}
    assert ids("within=340422000000") == []
    today = accepted["local_date"]
    assert len(ids(f"date_from={today}&date_to={today}")) == 2
    assert ids("date_from=2099-01-01") == []


# ---------------------------------------------------------------- photos


def test_photo_variants_and_who_may_see_them(client, world, make, cadre):
    at = device_time()
    photo = photo_for(at)
    created = post(client, cadre, fields(captured_at=at), [photo]).json
    photo_id = created["photos"][0]["id"]
    original = client.get(f"/api/v1/photos/{photo_id}?variant=original", headers=cadre)
    assert original.status_code == 200 and original.data == photo
    assert original.headers["X-Content-Type-Options"] == "nosniff"
    assert original.mimetype == "image/jpeg"
    viewed = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "photo.view_original")
    ).scalar_one()
    assert viewed.actor_id == world.cadre_a.id
    for variant, longest in (("display", 640), ("thumb", 256)):
        derived = client.get(f"/api/v1/photos/{photo_id}?variant={variant}", headers=cadre)
        assert derived.status_code == 200 and derived.mimetype == "image/jpeg"
        image = Image.open(io.BytesIO(derived.data))
        assert max(image.size) == longest
        assert not image.getexif()  # no EXIF: the position stays in the original only
    reviewer = make.headers(world.reviewer_a)
    assert client.get(f"/api/v1/photos/{photo_id}", headers=reviewer).status_code == 200
    for outsider in (world.cadre_b, world.reviewer_b, world.inspector_a):
        response = client.get(f"/api/v1/photos/{photo_id}", headers=make.headers(outsider))
        assert_error(response, 404, "photo_not_found")
    assert_error(
        client.get(f"/api/v1/photos/{photo_id}?variant=raw", headers=cadre), 422, "validation_error"
    )


def test_uploads_are_never_served_as_static_files(client, cadre, app):
    created = submit(client, cadre).json
    sha = created["photos"][0]["sha256"]
    for path in (f"/uploads/{sha}", f"/uploads/originals/{sha[:2]}/{sha[2:4]}/{sha}"):
        assert client.get(path).status_code == 404


def test_client_id_uuid_is_normalised(client, cadre):
    raw = str(uuid.uuid4()).upper()
    response = submit(client, cadre, client_id=raw)
    assert response.json["client_id"] == raw.lower()


@pytest.mark.parametrize("data", [b"", b"\xff"])
def test_empty_photo_is_422(client, cadre, data):
    response = post(client, cadre, fields(), [data])
    assert_error(response, 422, "photo_empty")


def test_photo_claiming_a_giant_canvas_is_refused_before_decoding(client, cadre):
    response = post(client, cadre, fields(), [photos.giant_png()])
    assert_error(response, 422, "photo_too_many_pixels")


def test_a_resend_cannot_grow_past_three_photos(client, cadre):
    at = device_time()
    form = fields(captured_at=at)
    post(client, cadre, form, [photo_for(at, seed) for seed in (1, 2, 3)])
    response = post(client, cadre, form, [photo_for(at, 4)])
    assert_error(response, 422, "too_many_photos")
    assert db.session.execute(db.select(db.func.count(Photo.id))).scalar_one() == 3


def test_storage_check_command(app, client, cadre, tmp_path, monkeypatch):
    # A store of its own: other tests' rolled-back rows leave their files behind.
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path))
    created = submit(client, cadre).json
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["storage", "check"])
    assert ok.exit_code == 0 and "storage check: OK" in ok.output, ok.output
    sha = created["photos"][0]["sha256"]
    path = storage.get_store().original_path(sha)
    path.chmod(0o600)
    path.unlink()
    broken = runner.invoke(args=["storage", "check"])
    assert broken.exit_code == 1 and f"missing file (row without its file): {sha}" in broken.output


def test_resend_restores_a_file_lost_after_commit(client, cadre):
    """A crash between the commit and moving the file leaves a row without its file;
    the phone's retry carries the same bytes, and they are put back."""
    at = device_time()
    form, photo = fields(captured_at=at), photo_for(at)
    created = post(client, cadre, form, [photo]).json
    path = storage.get_store().original_path(created["photos"][0]["sha256"])
    path.chmod(0o600)
    path.unlink()
    again = post(client, cadre, form, [photo])
    assert again.status_code == 200
    assert path.read_bytes() == photo
