"""Backups: the round trip into an empty database and store, compared table by table and
file by file, and everything restore must refuse. Each test runs committed data in a
database of its own, and restores into another fresh one."""

import io
import json
import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import make_url
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from config import TestingConfig
from server import create_app, storage
from server.extensions import db
from server.models import AuditEvent, CaseAttachment, Photo
from server.services import audit, backups
from server.services.backup_files import stored_files
from tests.api.case_kit import PDF, answer
from tests.api.checkin_kit import device_time, fields, submit
from tests.factories import Factory
from tests.photos import real_photo
from tests.s3_server import REGION

POSTGRES = bool(os.environ.get("DATABASE_URL"))


@pytest.fixture
def source(own_database):
    """A running app's committed data: check-ins with photos (one a real phone photo when
    the shared test data is there) and a case answered with an attachment."""
    app = own_database
    with app.app_context():
        make = Factory()
        world = make.world()
        db.session.commit()
        cadre, reviewer = make.headers(world.cadre_a), make.headers(world.reviewer_a)
        posting_id = world.posting_a.id
        db.session.commit()
    client = app.test_client()
    for hours in (50, 26, 2):
        response = submit(
            client, cadre, photo_seed=hours, captured_at=device_time(-timedelta(hours=hours))
        )
        assert response.status_code == 201, response.json
    phone = real_photo("es_nikon_p6000_DSCN0010.jpg")
    if phone is not None:
        response = post_in_memory(client, cadre, fields(), phone)
        assert response.status_code == 201, response.json
    case = client.post(
        "/api/v1/cases",
        json={
            "posting_id": posting_id,
            "proposed_measure": "talk",
            "summary": "群众反映长期不在村。",
        },
        headers=reviewer,
    )
    assert case.status_code == 201, case.json
    response = answer(client, cadre, case.json["id"], files=[("说明.pdf", PDF)])
    assert response.status_code == 201, response.json
    return app


def post_in_memory(client, headers, form, photo):
    """checkin_kit.post, encoded here: the test client spools bodies over 500 kB to a
    temporary file it never closes (a ResourceWarning, so an error)."""
    body = MultiDict([(k, str(v)) for k, v in form.items()])
    body.add("photos", FileStorage(io.BytesIO(photo), filename="IMG_0.jpg"))
    boundary, encoded = encode_multipart(body)
    return client.post(
        "/api/v1/checkins",
        data=encoded,
        headers=headers,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


@pytest.fixture
def fresh(tmp_path):
    """Apps over fresh, empty databases (no tables) and empty stores; dropped after."""
    base = os.environ.get("DATABASE_URL")
    server = create_engine(_server_url(base), isolation_level="AUTOCOMMIT") if base else None
    made = []

    def new(label="restored", **config):
        if server is None:
            url = f"sqlite:///{tmp_path / f'{label}.db'}"
        else:
            name = f"{make_url(base).database}_{label}_{os.getpid()}_{tmp_path.name[-12:]}"
            name = "".join(c if c.isalnum() else "_" for c in name.lower())[:60]
            with server.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            made.append(name)
            url = _server_url(base).set(database=name).render_as_string(hide_password=False)
        app = create_app(
            TestingConfig,
            SQLALCHEMY_DATABASE_URI=url,
            UPLOAD_DIR=str(tmp_path / f"{label}-store"),
            **config,
        )
        made.append(app)
        return app

    yield new
    for item in made:
        if isinstance(item, str):
            with server.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{item}" WITH (FORCE)'))
        else:
            with item.app_context():
                db.session.remove()
                db.engine.dispose()
    if server is not None:
        server.dispose()


def _server_url(base):
    return make_url(base.replace("postgresql://", "postgresql+psycopg://", 1))


def run(app, *args):
    # Inside the test's own app context a command would run against the suite's app.
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def backup_of(app, directory):
    result = run(app, "backup", "create", str(directory))
    assert result.exit_code == 0, result.output
    return json.loads((directory / "manifest.json").read_text())


def rows_by_table(app):
    """Every row of every table (and the alembic revision), in primary-key order."""
    with app.app_context():
        tables = {
            table.name: db.session.execute(
                db.select(table).order_by(*table.primary_key.columns)
            ).all()
            for table in db.metadata.sorted_tables
        }
        tables["alembic_version"] = db.session.execute(
            text("SELECT version_num FROM alembic_version")
        ).all()
    return tables


def originals(app):
    root = Path(app.config["UPLOAD_DIR"]) / "originals"
    return {path: (root / path).read_bytes() for path in stored_files(root)}


def is_empty(app):
    with app.app_context():
        tables = sa_inspect(db.engine).get_table_names()
        db.engine.dispose()
    return tables == [] and stored_files(app.config["UPLOAD_DIR"]) == []


# ---------------------------------------------------------------- round trip


def test_round_trip_restores_every_row_and_every_original(source, fresh, tmp_path):
    before = rows_by_table(source)
    with source.app_context():
        head_before = audit.head()
        shas = set(db.session.scalars(db.select(Photo.sha256))) | set(
            db.session.scalars(db.select(CaseAttachment.sha256))
        )
    created = run(source, "backup", "create", str(tmp_path / "backup"))
    assert created.exit_code == 0, created.output
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    kind = "postgresql" if POSTGRES else "sqlite"
    assert manifest["format"] == "cadre-backup" and manifest["format_version"] == 1
    assert manifest["database"]["kind"] == kind
    assert manifest["app_revision"] == before["alembic_version"][0][0]
    assert manifest["audit_head"] == {"seq": head_before[0], "hash": head_before[1]}
    assert manifest["row_counts"] == {name: len(rows) for name, rows in before.items()}
    assert manifest["row_counts"]["photo"] >= 3 and manifest["row_counts"]["case_attachment"] == 1
    assert manifest["derived_images"].startswith("not included")
    listed = {entry["path"]: entry for entry in manifest["files"]}
    database_file = backups.DATABASE_FILES[kind]
    assert set(listed) == {database_file} | {f"originals/{s[:2]}/{s[2:4]}/{s}" for s in shas}
    assert stored_files(tmp_path / "backup") == sorted([*listed, "manifest.json"])
    manifest_sha = created.output.split("manifest sha256: ")[1].split()[0]
    # The backup itself is on record in the source's audit log, after the snapshot.
    with source.app_context():
        event = db.session.get(AuditEvent, head_before[0] + 1)
        assert event.action == "backup.create"
        assert event.summary["manifest_sha256"] == manifest_sha

    target = fresh()
    restored = run(
        target, "backup", "restore", str(tmp_path / "backup"), "--expect-manifest", manifest_sha
    )
    assert restored.exit_code == 0, restored.output
    assert "match the manifest" in restored.output

    after = rows_by_table(target)
    assert set(after) == set(before)
    for name in before:
        if name != "audit_event":
            assert after[name] == before[name], name
    # The audit log is the source's up to the backup, then the restore's own event.
    events = after["audit_event"]
    assert events[:-1] == before["audit_event"]
    assert len(events) == len(before["audit_event"]) + 1
    with target.app_context():
        last = db.session.get(AuditEvent, head_before[0] + 1)
        assert last.action == "backup.restore" and last.prev_hash == head_before[1]
        assert last.summary["manifest_sha256"] == manifest_sha
        assert audit.verify_chain()[1] is None
    assert originals(target) == originals(source) and len(originals(target)) == len(shas)
    assert stored_files(Path(target.config["UPLOAD_DIR"]) / "tmp") == []


def test_the_restored_app_serves_the_evidence_and_takes_new_check_ins(source, fresh, tmp_path):
    backup_of(source, tmp_path / "backup")
    target = fresh()
    assert run(target, "backup", "restore", str(tmp_path / "backup")).exit_code == 0
    with target.app_context():
        photo = db.session.execute(db.select(Photo).order_by(Photo.id)).scalars().first()
        cadre = photo.checkin.cadre
        headers = Factory().headers(cadre)
        db.session.commit()
        sha = photo.sha256
        photo_id = photo.id
    response = target.test_client().get(
        f"/api/v1/photos/{photo_id}?variant=original", headers=headers
    )
    assert response.status_code == 200
    assert response.data == originals(source)[f"{sha[:2]}/{sha[2:4]}/{sha}"]
    # Sequences came back too: new rows do not collide with restored ones.
    created = submit(target.test_client(), headers, photo_seed=77)
    assert created.status_code == 201, created.json
    assert created.json["photos"][0]["id"] > photo_id


def test_originals_go_into_object_storage_and_back_out(source, fresh, s3_server, tmp_path):
    """Restore into an app whose store is an S3 bucket, then back that app up again."""
    first = backup_of(source, tmp_path / "backup")
    target = fresh(
        STORAGE_BACKEND="s3",
        S3_BUCKET=s3_server.bucket,
        S3_ENDPOINT_URL=s3_server.endpoint_url,
        S3_REGION=REGION,
        S3_PREFIX=f"backup-{tmp_path.name[-12:]}/",
    )
    restored = run(target, "backup", "restore", str(tmp_path / "backup"))
    assert restored.exit_code == 0, restored.output
    with target.app_context():
        bucket = storage.get_store()
        for name, data in originals(source).items():
            assert bucket.read(name.rsplit("/", 1)[1]) == data
    assert stored_files(target.config["UPLOAD_DIR"]) == []  # nothing went to the folder
    again = backup_of(target, tmp_path / "again")
    assert [f for f in again["files"] if f["path"].startswith("originals/")] == [
        f for f in first["files"] if f["path"].startswith("originals/")
    ]


# ---------------------------------------------------------------- refusals


def test_create_refuses_a_folder_that_is_not_empty(source, tmp_path):
    folder = tmp_path / "backup"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    result = run(source, "backup", "create", str(folder))
    assert result.exit_code == 1 and "backup_dir_not_empty" in result.output
    assert stored_files(folder) == ["notes.txt"]


def _flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.chmod(0o600)
    path.write_bytes(bytes(data))


def _tamper(backup, how):
    manifest = json.loads((backup / "manifest.json").read_text())
    paths = [e["path"] for e in manifest["files"]]
    database = next(p for p in paths if p.startswith("database."))
    original = next(p for p in paths if p.startswith("originals/"))
    if how == "database":
        _flip_last_byte(backup / database)
        return database
    if how == "original":
        _flip_last_byte(backup / original)
        return original
    if how == "deleted":
        (backup / original).unlink()
        return original
    extra = "originals/00/00/" + "0" * 64
    (backup / extra).parent.mkdir(parents=True)
    (backup / extra).write_bytes(b"slipped in")
    return extra


@pytest.mark.parametrize("how", ["database", "original", "deleted", "extra"])
def test_a_tampered_backup_is_refused_before_anything_changes(source, fresh, tmp_path, how):
    backup = tmp_path / "backup"
    backup_of(source, backup)
    named = _tamper(backup, how)
    target = fresh()
    result = run(target, "backup", "restore", str(backup))
    assert result.exit_code == 1, result.output
    assert "backup_tampered" in result.output and named in result.output
    assert is_empty(target)


def test_restore_refuses_a_database_that_has_tables(source, fresh, tmp_path):
    from flask_migrate import upgrade

    backup_of(source, tmp_path / "backup")
    target = fresh()
    with target.app_context():
        upgrade()  # what an operator might do first: it must not be mixed with the backup
        db.engine.dispose()
    result = run(target, "backup", "restore", str(tmp_path / "backup"))
    assert result.exit_code == 1 and "backup_target_not_empty" in result.output
    with target.app_context():
        assert db.session.execute(db.select(db.func.count(Photo.id))).scalar_one() == 0
        db.session.remove()
    assert stored_files(target.config["UPLOAD_DIR"]) == []


def test_restore_refuses_a_store_that_has_originals(source, fresh, tmp_path):
    backup_of(source, tmp_path / "backup")
    target = fresh()
    store = Path(target.config["UPLOAD_DIR"])
    name, data = next(iter(originals(source).items()))
    (store / "originals" / name).parent.mkdir(parents=True)
    (store / "originals" / name).write_bytes(data)
    result = run(target, "backup", "restore", str(tmp_path / "backup"))
    assert result.exit_code == 1 and "backup_target_not_empty" in result.output
    assert stored_files(store) == [f"originals/{name}"]
    with target.app_context():
        assert sa_inspect(db.engine).get_table_names() == []
        db.engine.dispose()


def test_restore_refuses_a_manifest_other_than_the_one_written_down(source, fresh, tmp_path):
    backup_of(source, tmp_path / "backup")
    target = fresh()
    result = run(
        target, "backup", "restore", str(tmp_path / "backup"), "--expect-manifest", "ab" * 32
    )
    assert result.exit_code == 1 and "backup_manifest_mismatch" in result.output
    assert is_empty(target)


def test_a_backup_of_the_other_database_kind_is_refused(source, fresh, tmp_path):
    manifest = backup_of(source, tmp_path / "backup")
    manifest["database"]["kind"] = "sqlite" if POSTGRES else "postgresql"
    (tmp_path / "backup" / "manifest.json").write_text(json.dumps(manifest))
    target = fresh()
    result = run(target, "backup", "restore", str(tmp_path / "backup"))
    assert result.exit_code == 1 and "backup_wrong_database_kind" in result.output
    assert is_empty(target)


def test_a_folder_without_a_manifest_is_not_a_backup(source, fresh, tmp_path):
    backup_of(source, tmp_path / "backup")
    (tmp_path / "backup" / "manifest.json").unlink()
    target = fresh()
    result = run(target, "backup", "restore", str(tmp_path / "backup"))
    assert result.exit_code == 1 and "backup_manifest_invalid" in result.output
    assert is_empty(target)


# ---------------------------------------------------------------- checks after restoring


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda m: m["row_counts"].update(photo=m["row_counts"]["photo"] + 1), "table photo"),
        (lambda m: m["audit_head"].update(seq=m["audit_head"]["seq"] - 1), "audit head"),
        (lambda m: m.update(app_revision="0001"), "alembic revision"),
    ],
)
def test_restore_compares_the_result_with_the_manifest(source, fresh, tmp_path, edit, problem):
    backup = tmp_path / "backup"
    manifest = backup_of(source, backup)
    edit(manifest)
    (backup / "manifest.json").write_text(json.dumps(manifest))
    target = fresh()
    result = run(target, "backup", "restore", str(backup))
    assert result.exit_code == 1 and "CHECKS FAILED" in result.output
    assert f"PROBLEM: {problem}" in result.output


def test_a_broken_audit_chain_is_reported(source, fresh, tmp_path):
    with source.app_context():
        event = db.session.get(AuditEvent, 2)
        event.summary = {"edited": "behind the application's back"}
        db.session.commit()
    backup_of(source, tmp_path / "backup")
    target = fresh()
    result = run(target, "backup", "restore", str(tmp_path / "backup"))
    assert result.exit_code == 1
    assert "PROBLEM: audit chain BROKEN at event 2" in result.output


def test_a_missing_original_makes_the_backup_incomplete_and_is_named(
    source, fresh, tmp_path, monkeypatch
):
    monkeypatch.setattr(backups, "LATE_FILE_SECONDS", 0)
    lost = next(iter(originals(source)))
    (Path(source.config["UPLOAD_DIR"]) / "originals" / lost).unlink()
    sha = lost.rsplit("/", 1)[1]
    result = run(source, "backup", "create", str(tmp_path / "backup"))
    assert result.exit_code == 1 and "INCOMPLETE" in result.output and sha in result.output
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["missing_originals"] == [sha]
    # Restoring says so again, but everything else comes back.
    target = fresh()
    restored = run(target, "backup", "restore", str(tmp_path / "backup"))
    assert restored.exit_code == 0, restored.output
    assert f"already missing when the backup was made: {sha}" in restored.output
    assert len(originals(target)) == len(originals(source))


@pytest.mark.skipif(not POSTGRES, reason="pg_dump and pg_restore are for PostgreSQL")
def test_without_the_client_tools_nothing_starts(source, fresh, tmp_path, monkeypatch):
    backup_of(source, tmp_path / "backup")
    target = fresh()
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    created = run(source, "backup", "create", str(tmp_path / "another"))
    assert created.exit_code == 1 and "backup_tool_missing" in created.output
    assert "pg_dump" in created.output and not (tmp_path / "another").exists()
    restored = run(target, "backup", "restore", str(tmp_path / "backup"))
    assert restored.exit_code == 1 and "backup_tool_missing" in restored.output
    assert "pg_restore" in restored.output and is_empty(target)


def test_a_backup_taken_while_the_app_writes_is_one_consistent_snapshot(source, fresh, tmp_path):
    """The dump, the row counts and the audit head in the manifest come from one moment,
    while check-ins keep committing: restoring finds exactly what the manifest says."""
    stop, ticks = threading.Event(), []

    def keep_writing():
        with source.app_context():
            while not stop.is_set():
                audit.record("test.tick", summary={"n": len(ticks)})
                db.session.commit()
                ticks.append(1)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        while len(ticks) < 3:
            time.sleep(0.01)
        manifest = backup_of(source, tmp_path / "backup")
        during = len(ticks)
        while len(ticks) < during + 3:
            time.sleep(0.01)
    finally:
        stop.set()
        writer.join()
    with source.app_context():
        events = db.session.execute(db.select(db.func.count(AuditEvent.seq))).scalar_one()
    assert events > manifest["row_counts"]["audit_event"] + 1  # more than backup.create
    target = fresh()
    restored = run(target, "backup", "restore", str(tmp_path / "backup"))
    assert restored.exit_code == 0, restored.output
