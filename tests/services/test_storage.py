"""The evidence store: files appear only for committed rows, and check() reports (and can
repair) whatever a crash or a tamperer left behind."""

import hashlib
import io
import os
import threading
import time
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server import storage
from server.errors import NotFound
from server.extensions import db
from server.models.checkins import Checkin, Photo
from server.services import photos

LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_pixels": 50_000_000}


@pytest.fixture
def store(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    return storage.get_store()


@pytest.fixture
def checkin(world, make):
    return make.checkin(world.posting_a)


def jpeg(seed: int) -> bytes:
    image = Image.linear_gradient("L").rotate(seed * 7).resize((64, 48)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", comment=f"seed {seed}".encode())
    return buffer.getvalue()


def add_photo(store, checkin, data, position=0) -> Photo:
    facts = photos.inspect(data, **LIMITS)
    store.stage(db.session, data, facts.sha256)
    photo = Photo(checkin=checkin, position=position, **facts.columns())
    db.session.add(photo)
    return photo


def files(store, area):
    return sorted(p.name for p in (store.root / area).rglob("*") if p.is_file())


def test_commit_moves_the_file_into_place(store, checkin):
    data = jpeg(1)
    photo = add_photo(store, checkin, data)
    assert files(store, "tmp") and not store.exists(photo.sha256)
    db.session.commit()
    assert store.exists(photo.sha256) and store.read(photo.sha256) == data
    assert store.original_path(photo.sha256).relative_to(store.root).parts[:3] == (
        "originals",
        photo.sha256[:2],
        photo.sha256[2:4],
    )
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


def test_move_failing_after_commit_is_reported_and_repaired(store, checkin, monkeypatch, caplog):
    photo = add_photo(store, checkin, jpeg(7))

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(storage.os, "replace", broken_replace)
    db.session.commit()  # the rows are committed: the caller must not see an error
    monkeypatch.undo()
    assert "committed but not moved" in caplog.text
    report = store.check(db.session)
    assert report.missing == [photo.sha256] and not report.ok
    repaired = store.check(db.session, repair=True)
    assert repaired.repaired == [photo.sha256] and repaired.missing == []
    assert store.check(db.session).ok and store.read(photo.sha256)


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


def test_check_finds_orphans_missing_tampered_and_stale(store, checkin):
    orphan = jpeg(13)
    orphan_sha = hashlib.sha256(orphan).hexdigest()
    session = Session()
    store.stage(session, orphan, orphan_sha)
    session.commit()  # a file with no Photo row
    missing = add_photo(store, checkin, jpeg(14), position=0)
    kept = add_photo(store, checkin, jpeg(15), position=1)
    db.session.flush()
    db.session.info["evidence_store.pending"].pop(0).path.unlink()  # a row without its file
    db.session.commit()
    tampered = store.original_path(kept.sha256)
    os.chmod(tampered, 0o600)
    tampered.write_bytes(b"edited")
    stale = store.root / "tmp" / f"{'e' * 64}.abc.part"
    stale.write_bytes(b"left by a crash")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))

    report = store.check(db.session)
    assert report.orphans == [orphan_sha]
    assert report.missing == [missing.sha256]
    assert report.tampered == [str(tampered.relative_to(store.root))]
    assert report.stale_temps == [stale.name]
    repaired = store.check(db.session, repair=True)
    assert repaired.removed_temps == [stale.name] and not stale.exists()
    assert repaired.orphans == [orphan_sha]  # evidence is never deleted automatically


def test_stage_trusts_the_callers_hash_and_check_catches_a_wrong_one(store):
    # The caller hashes the bytes once (photos.inspect); a mistake there cannot hide.
    session = Session()
    store.stage(session, b"bytes", "0" * 64)
    session.commit()
    assert store.check(db.session).tampered == [str(Path("originals/00/00") / ("0" * 64))]


def test_derived_images_are_made_once_and_cached(store, monkeypatch):
    data = jpeg(16)
    sha = hashlib.sha256(data).hexdigest()
    session = Session()
    store.stage(session, data, sha)
    session.commit()
    thumb = store.derived(sha, "thumb")
    assert Image.open(io.BytesIO(thumb)).size == (64, 48)
    assert store.derived_path(sha, "thumb").read_bytes() == thumb
    monkeypatch.setattr(photos, "render", lambda *args: pytest.fail("rendered twice"))
    assert store.derived(sha, "thumb") == thumb
    assert files(store, "tmp") == []
    with pytest.raises(ValueError):
        store.derived(sha, "huge")


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
