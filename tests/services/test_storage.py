"""The evidence store: files appear only for committed rows, and check() reports (and can
repair) whatever a crash or a tamperer left behind. Every test runs on both backends:
the local folder, and an S3 bucket on a real S3-speaking server (tests/s3_server.py)."""

import hashlib
import io
import os
import threading
import time

import pytest
from botocore.exceptions import EndpointConnectionError
from PIL import Image
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server import storage
from server.errors import NotFound
from server.extensions import db
from server.models.checkins import Checkin
from server.services import photos
from server.storage import base, s3
from tests.services.storage_kit import add_photo, files, get, jpeg, names, original, put


@pytest.fixture
def store(any_store):
    return any_store


@pytest.fixture
def checkin(world, make):
    return make.checkin(world.posting_a)


@pytest.fixture
def broken_install(store):
    """Make installing after the commit fail as it does in production: a full disk for
    the folder, an endpoint gone away for the bucket. undo() mends it."""

    def fail(*args, **kwargs):
        if isinstance(store, s3.S3Store):
            raise EndpointConnectionError(endpoint_url=store.client.meta.endpoint_url)
        raise OSError("disk full")

    patch = pytest.MonkeyPatch()
    if isinstance(store, s3.S3Store):
        patch.setattr(store, "_copy", fail)  # our call, after which the server is asked
    else:
        patch.setattr(os, "replace", fail)
    yield patch
    patch.undo()


def test_commit_moves_the_file_into_place(store, checkin):
    data = jpeg(1)
    photo = add_photo(store, checkin, data)
    assert files(store, "tmp") and not store.exists(photo.sha256)
    db.session.commit()
    assert store.exists(photo.sha256) and store.read(photo.sha256) == data
    assert names(store, "originals") == [original(photo.sha256)]
    assert files(store, "tmp") == []
    assert store.check(db.session).ok


def test_rollback_leaves_nothing(store, checkin):
    photo = add_photo(store, checkin, jpeg(2))
    db.session.flush()
    db.session.rollback()
    assert not store.exists(photo.sha256)
    assert files(store, "tmp") == [] and files(store, "originals") == []


def test_error_inside_the_transaction_after_staging(store, checkin):
    def submit():
        add_photo(store, checkin, jpeg(3))
        db.session.flush()
        raise RuntimeError("verification crashed")

    with pytest.raises(RuntimeError):
        try:
            submit()
        except Exception:
            db.session.rollback()
            raise
    assert files(store, "tmp") == [] and files(store, "originals") == []


def test_failed_commit_leaves_no_file(store, checkin):
    add_photo(store, checkin, jpeg(4), position=0)
    add_photo(store, checkin, jpeg(5), position=0)  # violates unique (checkin, position)
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert files(store, "tmp") == [] and files(store, "originals") == []
    assert store.check(db.session).ok


def test_session_closed_without_commit_discards(store):
    session = Session()
    data = jpeg(6)
    sha = hashlib.sha256(data).hexdigest()
    store.stage(session, data, sha)
    session.close()
    assert files(store, "tmp") == [] and not store.exists(sha)


def test_move_failing_after_commit_is_reported_and_repaired(store, checkin, broken_install, caplog):
    photo = add_photo(store, checkin, jpeg(7))
    db.session.commit()  # the rows are committed: the caller must not see an error
    broken_install.undo()
    assert "committed but not moved" in caplog.text
    report = store.check(db.session)
    assert report.missing == [photo.sha256] and not report.ok
    repaired = store.check(db.session, repair=True)
    assert repaired.repaired == [photo.sha256] and repaired.missing == []
    assert store.check(db.session).ok and store.read(photo.sha256)
    assert files(store, "tmp") == []


def test_crash_between_commit_and_install_is_repaired(store, checkin):
    data = jpeg(18)
    photo = add_photo(store, checkin, data)
    db.session.flush()
    # What a process killed right after the commit leaves: the row, and the staged copy.
    db.session.info["evidence_store.pending"].clear()
    db.session.commit()
    assert not store.exists(photo.sha256) and len(files(store, "tmp")) == 1
    assert store.check(db.session).missing == [photo.sha256]
    repaired = store.check(db.session, repair=True)
    assert repaired.repaired == [photo.sha256] and repaired.ok
    assert store.read(photo.sha256) == data and files(store, "tmp") == []


def test_savepoint_rollback_discards_only_what_it_staged(store, checkin):
    outer = add_photo(store, checkin, jpeg(8), position=0)
    db.session.flush()
    savepoint = db.session.begin_nested()
    inner = add_photo(store, checkin, jpeg(9), position=1)
    db.session.flush()
    savepoint.rollback()
    db.session.commit()
    assert store.exists(outer.sha256) and not store.exists(inner.sha256)
    assert files(store, "tmp") == []


def test_same_bytes_twice_in_one_transaction(store, checkin, make, world):
    data = jpeg(10)
    first = add_photo(store, checkin, data)
    db.session.flush()
    other = Checkin(**{c: getattr(checkin, c) for c in _CHECKIN_COPY}, client_id="other-1")
    db.session.add(other)
    second = add_photo(store, other, data)
    db.session.commit()
    assert first.sha256 == second.sha256 and store.exists(first.sha256)
    assert files(store, "originals") == [first.sha256] and files(store, "tmp") == []


_CHECKIN_COPY = (
    "cadre_id posting_id village_id content_hash kind latitude longitude accuracy_m "
    "captured_at captured_offset_min local_date local_time device_id verdict"
).split()


def test_an_original_already_there_is_never_replaced(store):
    # Content addressing: whatever sits under a sha's name stays; if it is not those
    # bytes, check() says so rather than an upload silently papering over it.
    data = jpeg(19)
    sha = hashlib.sha256(data).hexdigest()
    put(store, original(sha), b"planted")
    session = Session()
    store.stage(session, data, sha)
    session.commit()
    assert get(store, original(sha)) == b"planted" and files(store, "tmp") == []
    assert store.check(db.session).tampered == [original(sha)]


def test_concurrent_identical_content_is_stored_once(store):
    data = jpeg(11)
    sha = hashlib.sha256(data).hexdigest()
    barrier = threading.Barrier(6)
    errors = []

    def upload():
        try:
            session = Session()
            store.stage(session, data, sha)
            barrier.wait()
            session.commit()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert files(store, "originals") == [sha] and files(store, "tmp") == []
    assert store.read(sha) == data


def test_nothing_leaks_between_sessions(store):
    first, second = Session(), Session()
    data = jpeg(12)
    sha = hashlib.sha256(data).hexdigest()
    store.stage(first, data, sha)
    second.commit()
    assert not store.exists(sha)
    first.rollback()
    assert files(store, "tmp") == []


def stale_temp(store, sha) -> tuple[str, dict]:
    """A staged copy left by a crash an hour ago, and the check options that make it
    stale (an object's time on S3 is the server's own; it cannot be set back)."""
    if isinstance(store, s3.S3Store):
        name = f"{'a' * 32}-{sha}"
        put(store, f"tmp/{name}", b"left by a crash")
        return name, {"stale_minutes": 0}
    name = f"{sha}.abc.part"
    put(store, f"tmp/{name}", b"left by a crash")
    os.utime(store.root / "tmp" / name, (time.time() - 7200, time.time() - 7200))
    return name, {}


def test_check_finds_orphans_missing_tampered_and_stale(store, checkin):
    orphan = jpeg(13)
    orphan_sha = hashlib.sha256(orphan).hexdigest()
    session = Session()
    store.stage(session, orphan, orphan_sha)
    session.commit()  # a file with no Photo row
    missing = add_photo(store, checkin, jpeg(14), position=0)
    kept = add_photo(store, checkin, jpeg(15), position=1)
    db.session.flush()
    staged = db.session.info["evidence_store.pending"].pop(0)
    store.discard(staged.handle)  # a row without its file
    db.session.commit()
    put(store, original(kept.sha256), b"edited")
    stale, options = stale_temp(store, "e" * 64)

    report = store.check(db.session, **options)
    assert report.orphans == [orphan_sha]
    assert report.missing == [missing.sha256]
    assert report.tampered == [original(kept.sha256)]
    assert report.stale_temps == [stale]
    repaired = store.check(db.session, repair=True, **options)
    assert repaired.removed_temps == [stale] and files(store, "tmp") == []
    assert repaired.orphans == [orphan_sha]  # evidence is never deleted automatically


def test_a_copy_in_flight_is_neither_stale_nor_removed(store):
    session = Session()
    data = jpeg(20)
    store.stage(session, data, hashlib.sha256(data).hexdigest())
    report = store.check(db.session, repair=True)
    assert report.ok and report.removed_temps == [] and len(files(store, "tmp")) == 1
    session.rollback()
    assert files(store, "tmp") == []


def test_stage_trusts_the_callers_hash_and_check_catches_a_wrong_one(store):
    # The caller hashes the bytes once (photos.inspect); a mistake there cannot hide.
    # (S3 itself refuses such an upload, x-amz-checksum-sha256 being wrong; moto does
    # not check it, so here the wrong bytes get as far as check().)
    session = Session()
    store.stage(session, b"bytes", "0" * 64)
    session.commit()
    assert store.check(db.session).tampered == [original("0" * 64)]


def test_derived_images_are_made_once_and_cached(store, monkeypatch):
    data = jpeg(16)
    sha = hashlib.sha256(data).hexdigest()
    session = Session()
    store.stage(session, data, sha)
    session.commit()
    thumb = store.derived(sha, "thumb")
    assert Image.open(io.BytesIO(thumb)).size == (64, 48)
    name = f"derived/thumb/{sha[:2]}/{sha}.jpg"
    assert names(store, "derived") == [name] and get(store, name) == thumb
    monkeypatch.setattr(photos, "render", lambda *args: pytest.fail("rendered twice"))
    assert store.derived(sha, "thumb") == thumb
    assert files(store, "tmp") == []
    with pytest.raises(ValueError):
        store.derived(sha, "huge")


def test_derived_images_of_bytes_no_row_keeps_are_reported_and_repaired(store, checkin):
    kept = add_photo(store, checkin, jpeg(18), position=0)
    db.session.commit()
    store.derived(kept.sha256, "thumb")
    gone = hashlib.sha256(jpeg(19)).hexdigest()  # its row purged, its original deleted
    stray = f"derived/display/{gone[:2]}/{gone}.jpg"
    put(store, stray, b"the picture retention removed")

    report = store.check(db.session)
    assert report.stray_derived == [stray] and not report.ok
    repaired = store.check(db.session, repair=True)
    assert repaired.removed_derived == [stray] and repaired.ok
    assert names(store, "derived") == [f"derived/thumb/{kept.sha256[:2]}/{kept.sha256}.jpg"]


def test_a_photo_committed_while_the_check_runs_keeps_its_derived_images(
    store, checkin, monkeypatch
):
    late = add_photo(store, checkin, jpeg(21), position=0)
    db.session.commit()
    store.derived(late.sha256, "thumb")
    # The rows were read before this photo committed; the listing of derived/ after.
    read = base._photo_shas
    monkeypatch.setattr(
        base, "_photo_shas", lambda session: tuple(s - {late.sha256} for s in read(session))
    )
    report = store.check(db.session, repair=True)
    assert report.stray_derived == report.removed_derived == []
    assert store.derived(late.sha256, "thumb")


@pytest.mark.parametrize("sha", ["0" * 64, "../../etc/passwd", "A" * 64, None])
def test_read_of_unknown_or_malformed_names(store, sha):
    assert not store.exists(sha)
    with pytest.raises(NotFound):
        store.read(sha)
    with pytest.raises(NotFound):
        store.derived(sha, "display")


def test_module_functions_use_the_app_store(store, checkin):
    data = jpeg(17)
    sha = hashlib.sha256(data).hexdigest()
    storage.stage(db.session, data, sha)
    db.session.commit()
    assert storage.exists(sha) and storage.read(sha) == data == store.read(sha)
    assert storage.derived(sha, "display") == store.derived(sha, "display")
    assert storage.check(db.session).orphans == [sha]
