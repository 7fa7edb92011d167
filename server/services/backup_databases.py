"""The database half of a backup: a consistent copy (SQLite's online backup API, or
pg_dump of an exported snapshot), the facts the manifest records about that very copy,
and loading a copy into an empty database. `server/services/backups.py` is the use case."""

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from server.errors import Invalid
from server.extensions import db
from server.models.audit import GENESIS_HASH
from server.services import backup_files as files

FILES = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
TOOLS = {"sqlite": {}, "postgresql": {"create": "pg_dump", "restore": "pg_restore"}}

_TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table' "
    "AND name NOT LIKE 'sqlite_%' ORDER BY name",
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
    "ORDER BY tablename",
}

# Every file a row needs: a photo purged by retention keeps its hash but not its file.
_EVIDENCE = (
    "SELECT sha256 FROM photo WHERE purged_at IS NULL UNION SELECT sha256 FROM case_attachment"
)


@dataclass
class Facts:
    """What one snapshot of the database says about itself."""

    row_counts: dict
    revision: str | None
    head: tuple  # (seq, hash) of the newest audit event
    evidence: list = field(default_factory=list)  # every sha a photo or attachment names


def dialect() -> str:
    name = db.engine.dialect.name
    if name not in FILES or (name == "sqlite" and not _sqlite_path()):
        raise Invalid(
            error="backup_unsupported_database",
            message="Backups need PostgreSQL or an SQLite database file.",
            message_zh="备份仅支持 PostgreSQL 或 SQLite 数据库文件。",
        )
    return name


def require_tool(kind: str, step: str) -> None:
    """Fail before anything is written if the client tool is not installed."""
    if step in TOOLS[kind]:
        files.tool(TOOLS[kind][step])


def copy(kind: str, dump: Path) -> tuple[Facts, dict]:
    """Write a consistent copy of the database to `dump`; return its facts, read from
    the same snapshot, and what to record about the database in the manifest."""
    return (_dump_postgresql if kind == "postgresql" else _copy_sqlite)(dump)


def load(kind: str, dump: Path) -> None:
    """Load `dump` into this app's (empty) database."""
    (_restore_postgresql if kind == "postgresql" else _restore_sqlite)(dump)


def tables(kind: str) -> list[str]:
    with db.engine.connect() as connection:
        return [row[0] for row in connection.exec_driver_sql(_TABLES[kind])]


def current_facts(kind: str) -> Facts:
    """The facts of the database as it is now (after a restore: maybe of an older
    revision, so without the evidence list, whose query needs the current schema)."""
    with db.engine.connect() as connection:
        return _facts(lambda sql: connection.exec_driver_sql(sql).all(), kind, evidence=False)


def _facts(run, kind, evidence=True) -> Facts:
    names = [row[0] for row in run(_TABLES[kind])]
    counts = {name: run(f"SELECT count(*) FROM {_quote(name)}")[0][0] for name in names}
    revision = run("SELECT version_num FROM alembic_version") if "alembic_version" in counts else []
    head = run("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")
    shas = run(_EVIDENCE) if evidence else []
    return Facts(
        row_counts=counts,
        revision=revision[0][0] if revision else None,
        head=tuple(head[0]) if head else (0, GENESIS_HASH),
        evidence=sorted(row[0] for row in shas),
    )


def _quote(name):
    return '"' + name.replace('"', '""') + '"'


def _sqlite_path():
    name = db.engine.url.database
    return None if name in (None, "", ":memory:") else Path(name)


def _read_only(path: Path):
    return closing(sqlite3.connect(path.as_uri() + "?mode=ro", uri=True))


def _copy_sqlite(dump: Path):
    raw = db.engine.raw_connection()
    try:
        with closing(sqlite3.connect(dump)) as target:
            # One step, so one read transaction over the whole copy; in WAL mode the
            # app's writers go on meanwhile.
            raw.driver_connection.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
    finally:
        raw.close()
    with _read_only(dump) as copied:
        facts = _facts(lambda sql: copied.execute(sql).fetchall(), "sqlite")
    return facts, {"kind": "sqlite", "file": dump.name, "sqlite_version": sqlite3.sqlite_version}


def _restore_sqlite(dump: Path):
    with _read_only(dump) as source, closing(sqlite3.connect(_sqlite_path())) as target:
        # A WAL-mode target takes only a copy of its own page size; a rollback-journal
        # one any (the app's connections turn WAL on again).
        target.execute("PRAGMA journal_mode = DELETE")
        source.backup(target)


def _dump_postgresql(dump: Path):
    pg_dump = files.tool("pg_dump")
    dsn, env = _libpq(db.engine.url)
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with connection.begin():
            # pg_dump reads the very snapshot the manifest's counts and head come from,
            # however many check-ins commit meanwhile.
            snapshot = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
            files.run(
                [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={dump}", dsn],
                env,
            )
            run = lambda sql: connection.exec_driver_sql(sql).all()  # noqa: E731
            facts = _facts(run, "postgresql")
            server = run("SHOW server_version")[0][0]
    tool = files.run([pg_dump, "--version"], env).strip()
    return facts, {"kind": "postgresql", "file": dump.name, "server": server, "tool": tool}


def _restore_postgresql(dump: Path):
    pg_restore = files.tool("pg_restore")
    dsn, env = _libpq(db.engine.url)
    # All or nothing; owners and grants are the old server's roles, which this server
    # need not have.
    options = ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    files.run([pg_restore, *options, f"--dbname={dsn}", str(dump)], env)


def _libpq(url):
    """The URL for libpq tools; the password goes in the environment, not in `ps`."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env
