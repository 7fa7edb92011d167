"""A photo check-in end to end with the evidence in an S3 bucket (STORAGE_BACKEND=s3,
on the loopback S3 server of tests/s3_server.py): submitted over HTTP, stored by
content, served back as original and derived images, and put back by the phone's
retry after the object was lost."""

import hashlib
import io

import pytest
from PIL import Image

from server import storage
from tests.api.checkin_kit import device_time, fields, photo_for, post
from tests.services.storage_kit import names, original


@pytest.fixture
def cadre(world, make):
    return make.headers(world.cadre_a)


@pytest.fixture
def store(s3_app, tmp_path, monkeypatch):
    monkeypatch.setitem(s3_app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    return storage.get_store()


def test_a_check_in_stores_its_photo_in_the_bucket_and_serves_it(
    client, cadre, store, tmp_path, s3_app
):
    at = device_time()
    photo = photo_for(at, seed=3)
    sha = hashlib.sha256(photo).hexdigest()
    response = post(client, cadre, fields(captured_at=at), [photo])
    assert response.status_code == 201, response.json
    (shown,) = response.json["photos"]
    assert shown["sha256"] == sha
    assert names(store, "originals") == [original(sha)] and names(store, "tmp") == []

    original_view = client.get(f"/api/v1/photos/{shown['id']}?variant=original", headers=cadre)
    assert original_view.status_code == 200 and original_view.data == photo
    thumb = client.get(f"/api/v1/photos/{shown['id']}?variant=thumb", headers=cadre)
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.data)).size) == 256
    assert names(store, "derived") == [f"derived/thumb/{sha[:2]}/{sha}.jpg"]

    assert not (tmp_path / "uploads").exists()  # the local folder was never touched
    check = s3_app.test_cli_runner().invoke(args=["storage", "check"])
    assert check.exit_code == 0 and "storage check: OK" in check.output, check.output


def test_the_phones_retry_puts_back_an_object_lost_after_commit(client, cadre, store):
    at = device_time()
    form, photo = fields(captured_at=at), photo_for(at, seed=4)
    created = post(client, cadre, form, [photo]).json
    sha = created["photos"][0]["sha256"]
    store.client.delete_object(Bucket=store.bucket, Key=store.key(original(sha)))
    missing = client.get(f"/api/v1/photos/{created['photos'][0]['id']}", headers=cadre)
    assert missing.status_code == 404 and missing.json["error"] == "evidence_file_missing"
    again = post(client, cadre, form, [photo])
    assert again.status_code == 200
    assert store.read(sha) == photo and names(store, "tmp") == []
