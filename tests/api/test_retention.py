"""What a purge looks like from outside: a purged photo is 410 Gone, a purged check-in
still reads (with a null position) in the API, the console and a case's bundle, and the
app goes on verifying new check-ins beside purged ones."""

import io
import zipfile
from datetime import datetime, timedelta

import pytest

from server import storage
from server.extensions import db
from server.models import AuditEvent, Checkin, Photo
from server.models.types import utcnow
from server.services import retention
from tests.api.checkin_kit import fields, photo_for, post, submit
from tests.api.test_bundles import download, own_initiative, read_json, run_verifier
from tests.services.retention_kit import flag_on
from tests.test_platform import assert_error
from tests.web.console_kit import log_in

# Far enough ahead that everything submitted in a test is past the retention period.
LATER = timedelta(days=1200)


@pytest.fixture
def store(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    monkeypatch.setitem(app.config, "STORAGE_BACKEND", "local")
    return storage.get_store()


@pytest.fixture
def purged(client, world, make, store):
    """Cadre A's honest check-in with a photo, then three and a bit years later a purge."""
    response = submit(client, make.headers(world.cadre_a), photo_seed=21)
    assert response.status_code == 201, response.json
    report = retention.purge(now=utcnow() + LATER)
    assert report.checkins == [response.json["id"]]
    return response.json


def test_a_purged_photo_is_gone_in_every_variant(client, world, make, purged):
    photo_id = purged["photos"][0]["id"]
    for who in (world.cadre_a, world.reviewer_a):
        for variant in ("original", "display", "thumb"):
            response = client.get(
                f"/api/v1/photos/{photo_id}?variant={variant}", headers=make.headers(who)
            )
            assert_error(response, 410, "photo_purged")
            assert response.json["errors"]["purged_at"]
    viewed = db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.action.like("photo.view%"))
    ).all()
    assert viewed == []  # nothing was shown, so no look is recorded


def test_a_purged_photo_is_still_404_outside_ones_scope(client, world, make, purged):
    response = client.get(
        f"/api/v1/photos/{purged['photos'][0]['id']}", headers=make.headers(world.reviewer_b)
    )
    assert_error(response, 404, "photo_not_found")


def test_a_purged_check_in_still_reads_without_its_position(client, world, make, purged):
    response = client.get(f"/api/v1/checkins/{purged['id']}", headers=make.headers(world.cadre_a))
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["latitude"], body["longitude"], body["accuracy_m"]) == (None, None, None)
    assert body["purged_at"] is not None and body["verdict"] == purged["verdict"]
    (photo,) = body["photos"]
    assert photo["sha256"] == purged["photos"][0]["sha256"]
    assert photo["purged_at"] is not None and photo["exif_latitude"] is None
    listed = client.get("/api/v1/checkins", headers=make.headers(world.reviewer_a))
    assert listed.status_code == 200
    assert [c["latitude"] for c in listed.json if c["id"] == purged["id"]] == [None]


def test_the_spec_says_which_fields_a_purge_empties(client):
    spec = client.get("/api/openapi.json").json
    checkin = spec["components"]["schemas"]["Checkin"]["properties"]
    assert all(checkin[name]["nullable"] for name in ("latitude", "longitude", "purged_at"))
    responses = spec["paths"]["/api/v1/photos/{photo_id}"]["get"]["responses"]
    assert "410" in responses


def test_new_check_ins_are_verified_as_usual_beside_purged_ones(client, world, make, purged):
    # The travel rule measures from the nearest earlier check-in: the purged one has no
    # position to measure from, and must not be taken for one at 0°, 0°.
    response = submit(client, make.headers(world.cadre_a), photo_seed=22)
    assert response.status_code == 201, response.json
    assert "impossible_travel" not in [f["code"] for f in response.json["flags"]]
    # The purged photo's hashes still count: the same picture again is a reuse.
    picture = photo_for(datetime.fromisoformat(response.json["captured_at"]), 21)
    again = submit(client, make.headers(world.cadre_a), files=[picture])
    assert again.status_code == 201, again.json
    reused = next(f for f in again.json["flags"] if f["code"] == "photo_reused")
    assert reused["details"]["photo_sha256"] == again.json["photos"][0]["sha256"]


def test_a_resend_does_not_bring_purged_bytes_back(client, world, make, store):
    headers = make.headers(world.cadre_a)
    form = fields()
    photo = photo_for(utcnow(), 23)
    first = post(client, headers, form, [photo])
    assert first.status_code == 201, first.json
    retention.purge(now=utcnow() + LATER)
    again = post(client, headers, form, [photo])
    assert again.status_code == 200, again.json
    sha = first.json["photos"][0]["sha256"]
    assert not store.exists(sha) and store.check(db.session).ok


def test_a_case_opened_after_the_purge_bundles_the_record_and_declares_the_photo(
    client, world, make, purged, tmp_path
):
    case = own_initiative(world, [{"type": "checkin", "id": purged["id"]}])
    response = download(client, make, world.reviewer_a, case.id)
    assert response.status_code == 200, response.get_data(as_text=True)
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    sha = purged["photos"][0]["sha256"]
    assert not any(name.startswith("photos/") for name in archive.namelist())
    assert read_json(archive, "manifest.json")["missing_files"] == [
        {"sha256": sha, "kind": "photo", "reason": "purged"}
    ]
    record = read_json(archive, f"evidence/checkin-{purged['id']}.json")
    assert record["checkin"]["latitude"] is None and record["checkin"]["purged_at"]
    assert record["photos"][0]["file"] is None and record["photos"][0]["purged_at"]
    path = tmp_path / "bundle.zip"
    path.write_bytes(response.data)
    checked = run_verifier(path)
    assert checked.returncode == 0, checked.stdout
    assert "deleted (retention period)" in checked.stderr


def test_the_console_shows_a_purged_check_in_without_position_or_picture(
    client, world, make, purged
):
    checkin = db.session.get(Checkin, purged["id"])
    flag_on(checkin, "poor_accuracy", status="dismissed", accuracy_m=350.0)
    db.session.commit()
    assert log_in(client, world.reviewer_a).status_code == 302
    month = checkin.local_date.strftime("%Y-%m")
    pages = [
        client.get(f"/console/postings/{world.posting_a.id}?month={month}"),
        client.get("/console/flags?status=dismissed"),
    ]
    photo = db.session.get(Photo, purged["photos"][0]["id"])
    for page in pages:
        text = page.get_data(as_text=True)
        assert page.status_code == 200, text
        assert "已按保存期限清除" in text and "照片已按保存期限删除" in text
        assert f"photo_id={photo.id}" not in text and f"/photos/{photo.id}?" not in text
