"""Engine-level settings that make SQLite behave like the database we run in production."""

from sqlalchemy import event
from sqlalchemy.engine import Engine


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, connection_record):
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    # Let SQLAlchemy, not the pysqlite driver, decide when transactions begin, so that
    # SAVEPOINTs and the per-test transaction work (SQLAlchemy's documented recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA busy_timeout = 5000")
    # Write-ahead log: readers do not block the writer, and a commit costs one fsync
    # instead of the rollback journal's several; FULL keeps every commit durable.
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_on_begin(connection):
    # IMMEDIATE: take the write lock when the transaction starts. A deferred transaction
    # that reads, then writes after another writer committed, fails at once (a stale WAL
    # snapshot is not retried by busy_timeout); an immediate one waits its turn instead.
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def render_migration_item(type_, obj, autogen_context):
    """Write our UTCDateTime as a plain timezone-aware DateTime in Alembic revisions,
    so revisions never import application code."""
    from server.models.types import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False
