"""Backups of the database and the evidence store, and their restore.

A backup directory holds:
    manifest.json          format, time, alembic revision, database kind, audit chain
                           head, row counts per table, and every file below with its
                           size and SHA-256; written last (no manifest: no backup)
    database.sqlite3       SQLite's online backup: a consistent copy while the app runs
    database.pgdump        or pg_dump --format=custom of an exported snapshot, the one
                           the manifest's counts and head are read from
    originals/ab/cd/<sha>  every evidence original a row of that snapshot names

Derived images (display, thumbnails) are left out: they are made again from the
originals on first view. Files no row of the snapshot names (uploads committed after
it, orphans) are left out too.

Restore changes nothing until every file matches the manifest and the target database
and store are empty; then it copies the originals (hash-verified), loads the database,
and checks the result against the manifest. Both are operators' commands
(`flask backup ...`), not request handlers.
"""

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app

from server import storage
from server.errors import Conflict, Invalid, NotFound
from server.extensions import db
from server.models.types import utcnow
from server.services import audit
from server.services import backup_databases as databases
from server.services import backup_files as files

FORMAT = "cadre-backup"
FORMAT_VERSION = 1
DATABASE_FILES = databases.FILES
# A row committed just before the snapshot may still have its file on the way from
# tmp/ to originals/ (the move runs after the commit): look once more after this.
LATE_FILE_SECONDS = 1.0
DERIVED_NOTE = "not included: display and thumbnail images are made again from the originals"


@dataclass
class Backup:
    directory: Path
    manifest: dict
    manifest_sha256: str
    missing: list  # shas named by rows whose file was not in the store
    tampered: list  # shas whose stored content no longer matches the name

    @property
    def complete(self) -> bool:
        return not (self.missing or self.tampered)


@dataclass
class Restore:
    manifest: dict
    manifest_sha256: str
    originals: int
    head: tuple | None = None  # after the restore's own audit event
    problems: list = field(default_factory=list)
    missing_at_backup: list = field(default_factory=list)  # the manifest said so already
    code_revision: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def create(*, directory) -> Backup:
    """Back up into `directory` (new or empty); see the module docstring."""
    target = Path(directory)
    kind = databases.dialect()
    databases.require_tool(kind, "create")
    created = files.require_empty_dir(target)
    try:
        dump = target / DATABASE_FILES[kind]
        facts, database = databases.copy(kind, dump)
        copied, missing, tampered = _copy_originals(storage.get_store(), facts.evidence, target)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": utcnow().isoformat(),
            "app_revision": facts.revision,
            "database": database,
            "audit_head": {"seq": facts.head[0], "hash": facts.head[1]},
            "row_counts": facts.row_counts,
            "files": [files.describe(target, dump), *copied],
            "missing_originals": missing,
            "tampered_originals": tampered,
            "derived_images": DERIVED_NOTE,
        }
        digest = files.write_manifest(target, manifest)
    except BaseException:
        files.clear(target, remove=created)
        raise
    # After the snapshot, so the backup does not contain its own record.
    audit.record(
        "backup.create",
        object_type="backup",
        summary={
            "directory": str(target.resolve()),
            "manifest_sha256": digest,
            "audit_head_seq": facts.head[0],
            "originals": len(copied),
            "missing_originals": missing,
            "tampered_originals": tampered,
        },
    )
    db.session.commit()
    return Backup(target, manifest, digest, missing, tampered)


def restore(*, directory, expect_manifest=None) -> Restore:
    """Restore `directory` into this app's empty database and store, then check it."""
    source = Path(directory)
    manifest, digest = files.read_manifest(source, FORMAT, FORMAT_VERSION)
    if expect_manifest and expect_manifest.lower() != digest:
        raise Conflict(
            error="backup_manifest_mismatch",
            message=f"The manifest's SHA-256 is {digest}, not the one expected.",
            message_zh="备份清单的 SHA-256 与预期不符。",
        )
    kind = databases.dialect()
    if manifest["database"].get("kind") != kind:
        raise Invalid(
            error="backup_wrong_database_kind",
            message=f"A {manifest['database'].get('kind')} backup cannot go into {kind}.",
            message_zh="备份的数据库类型与目标数据库不同。",
        )
    databases.require_tool(kind, "restore")
    dump = files.verify(source, manifest, DATABASE_FILES[kind])
    store = storage.get_store()
    _require_empty_target(kind, store)
    originals = [e for e in manifest["files"] if e["path"] != DATABASE_FILES[kind]]
    # Staged first and installed only once the database is in: a failed load leaves
    # the store as empty as it was.
    staged = files.stage_originals(store, source, originals)
    try:
        db.session.remove()
        db.engine.dispose()  # SQLite leaves WAL mode only with no other connection open
        databases.load(kind, dump)
    except BaseException:
        files.discard(store, staged)
        raise
    finally:
        db.engine.dispose()  # no pooled connection may remember the empty database
    files.install(store, staged)
    report = Restore(manifest, digest, len(staged))
    _check(report, kind, store)
    if report.ok:
        audit.record(
            "backup.restore",
            object_type="backup",
            summary={
                "directory": str(source.resolve()),
                "manifest_sha256": digest,
                "created_at": manifest["created_at"],
                "originals": len(staged),
            },
        )
        db.session.commit()
    report.head = audit.head()
    return report


def _copy_originals(store, shas, target):
    entries, missing, tampered = [], [], []
    for attempt in (1, 2):
        missing = []
        for sha in shas:
            try:
                data = store.read(sha)
            except NotFound:
                missing.append(sha)
                continue
            if hashlib.sha256(data).hexdigest() != sha:
                tampered.append(sha)
                continue
            entries.append(files.write_original(target, sha, data))
        if not missing or attempt == 2:
            break
        time.sleep(LATE_FILE_SECONDS)
        shas = missing
    return sorted(entries, key=lambda e: e["path"]), missing, tampered


def _require_empty_target(kind, store):
    tables = databases.tables(kind)
    stored = files.store_contents(store)
    if tables or stored:
        errors = {}
        if tables:
            errors["database"] = [f"{len(tables)} tables, e.g. {', '.join(tables[:5])}"]
        if stored:
            errors["store"] = [f"originals or staged copies, e.g. {', '.join(stored)}"]
        raise Conflict(
            error="backup_target_not_empty",
            message="Restore only into an empty database (no tables: do not run "
            "`db upgrade` first) and a store without originals; found "
            + "; ".join(f"{where}: {what[0]}" for where, what in errors.items()),
            message_zh="只能恢复到空数据库（无表，勿先执行 db upgrade）和空的证据存储。",
            errors=errors,
        )


def _check(report: Restore, kind, store):
    """Compare what was restored with the manifest; each difference is a problem."""
    manifest, problems = report.manifest, report.problems
    facts = databases.current_facts(kind)
    if facts.revision != manifest["app_revision"]:
        problems.append(
            f"alembic revision {facts.revision}, the manifest says {manifest['app_revision']}"
        )
    expected = manifest["row_counts"]
    for table in sorted(set(expected) | set(facts.row_counts)):
        if expected.get(table) != facts.row_counts.get(table):
            problems.append(
                f"table {table}: {facts.row_counts.get(table)} rows, "
                f"the manifest says {expected.get(table)}"
            )
    count, broken, reason = audit.verify_chain()
    if broken is not None:
        problems.append(f"audit chain BROKEN at event {broken}: {reason} ({count} events)")
    head = manifest["audit_head"]
    if list(facts.head) != [head.get("seq"), head.get("hash")]:
        problems.append(
            f"audit head {facts.head[0]}:{facts.head[1]}, the manifest says "
            f"{head.get('seq')}:{head.get('hash')}"
        )
    known = set(manifest.get("missing_originals", [])) | set(manifest.get("tampered_originals", []))
    found = store.check(db.session)
    report.missing_at_backup = sorted(known & set(found.missing))
    problems += [
        f"missing original (row without its file): {sha}"
        for sha in found.missing
        if sha not in known
    ]
    problems += [f"orphan file (no row names it): {sha}" for sha in found.orphans]
    problems += [f"tampered file: {path}" for path in found.tampered]
    report.code_revision = _code_head()


def _code_head():
    from alembic.script import ScriptDirectory

    config = current_app.extensions["migrate"].migrate.get_config()
    return ScriptDirectory.from_config(config).get_current_head()
