"""What is particular to the S3 evidence store, against a real S3-speaking server
(tests/s3_server.py): object names, server-side checksums, and `storage check` finding
and repairing what a crash or a tamperer left in the bucket. The behaviour both
backends share is tested in test_storage.py, on both."""

import base64
import hashlib
import re

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config import ProductionConfig
from server import storage
from server.extensions import db
from server.storage.s3 import S3Store
from tests.services.storage_kit import add_photo, jpeg, names, original, put


@pytest.fixture
def store(s3_app, tmp_path, monkeypatch):
    monkeypatch.setitem(s3_app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    return storage.get_store()


@pytest.fixture
def checkin(world, make):
    return make.checkin(world.posting_a)


def everything(store) -> list[str]:
    return names(store, "originals") + names(store, "derived") + names(store, "tmp")


def test_objects_are_named_by_content_and_carry_their_sha256(store, checkin, tmp_path):
    data = jpeg(1)
    photo = add_photo(store, checkin, data)
    (staged,) = names(store, "tmp")
    assert re.fullmatch(rf"tmp/[0-9a-f]{{32}}-{photo.sha256}", staged)
    db.session.commit()
    assert everything(store) == [original(photo.sha256)]
    head = store.client.head_object(
        Bucket=store.bucket, Key=store.key(original(photo.sha256)), ChecksumMode="ENABLED"
    )
    # The copy asked the server to hash what it holds; that is what it answers now.
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert store.key(original(photo.sha256)).startswith(store.prefix)
    assert not (tmp_path / "uploads").exists()  # nothing went to the local folder


def test_a_failed_commit_leaves_no_object_at_all(store, checkin):
    add_photo(store, checkin, jpeg(2), position=0)
    add_photo(store, checkin, jpeg(3), position=0)  # violates unique (checkin, position)
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert everything(store) == []


def test_check_repair_installs_what_a_crash_after_commit_left_staged(s3_app, store, checkin):
    data = jpeg(4)
    photo = add_photo(store, checkin, data)
    db.session.flush()
    db.session.info["evidence_store.pending"].clear()  # killed right after the commit
    db.session.commit()
    assert names(store, "originals") == [] and len(names(store, "tmp")) == 1
    runner = s3_app.test_cli_runner()
    found = runner.invoke(args=["storage", "check"])
    assert found.exit_code == 1
    assert f"missing file (row without its file): {photo.sha256}" in found.output
    repaired = runner.invoke(args=["storage", "check", "--repair"])
    assert repaired.exit_code == 0, repaired.output
    assert f"repaired (moved into place): {photo.sha256}" in repaired.output
    assert everything(store) == [original(photo.sha256)] and store.read(photo.sha256) == data
    assert "storage check: OK" in runner.invoke(args=["storage", "check"]).output


def test_check_reports_a_replaced_object(s3_app, store, checkin):
    photo = add_photo(store, checkin, jpeg(5))
    db.session.commit()
    put(store, original(photo.sha256), b"someone with write access to the bucket")
    result = s3_app.test_cli_runner().invoke(args=["storage", "check"])
    assert result.exit_code == 1
    assert (
        f"tampered file (content does not match its name): {original(photo.sha256)}"
        in result.output
    )


def test_bytes_that_do_not_match_their_sha_are_logged_at_the_copy(store, caplog):
    # S3 refuses such an upload outright (x-amz-checksum-sha256 is wrong); moto does
    # not check it, so this is the second line: the SHA-256 the server computes when
    # it copies the object to its final name.
    session = Session()
    store.stage(session, b"not what the name says", "0" * 64)
    session.commit()
    assert f"evidence {'0' * 64}: the stored bytes do not match the name" in caplog.text
    assert store.check(db.session).tampered == [original("0" * 64)]


def test_a_stale_staged_copy_with_no_row_is_removed_by_repair(store):
    data = jpeg(6)
    sha = hashlib.sha256(data).hexdigest()
    put(store, f"tmp/{'b' * 32}-{sha}", data)  # a crash before the commit: no row
    report = store.check(db.session, stale_minutes=0, repair=True)
    assert report.removed_temps == [f"{'b' * 32}-{sha}"] and everything(store) == []


def test_prefix_keeps_stores_apart(store, s3_server):
    data = jpeg(7)
    sha = hashlib.sha256(data).hexdigest()
    session = Session()
    store.stage(session, data, sha)
    session.commit()
    neighbour = S3Store(
        store.bucket, prefix="other", endpoint_url=s3_server.endpoint_url, region="us-east-1"
    )
    assert neighbour.prefix == "other/" and not neighbour.exists(sha)
    assert neighbour.check(db.session).orphans == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"STORAGE_BACKEND": "s3", "S3_BUCKET": ""}, "needs S3_BUCKET"),
        ({"STORAGE_BACKEND": "ftp"}, "must be local or s3"),
    ],
)
def test_a_misconfigured_backend_is_refused(app, monkeypatch, settings, message):
    for key, value in settings.items():
        monkeypatch.setitem(app.config, key, value)
    with pytest.raises(RuntimeError, match=message):
        storage.get_store()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"STORAGE_BACKEND": "s3", "S3_BUCKET": None}, "needs S3_BUCKET"),
        ({"STORAGE_BACKEND": "disk"}, "must be local or s3"),
    ],
)
def test_production_refuses_to_start_misconfigured(monkeypatch, settings, message):
    monkeypatch.setattr(ProductionConfig, "SECRET_KEY", "a-long-random-secret-for-tests-0123456789")
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/any")
    for key, value in settings.items():
        monkeypatch.setattr(ProductionConfig, key, value)
    with pytest.raises(RuntimeError, match=f"Refusing to start: .*{message}"):
        ProductionConfig.check()
