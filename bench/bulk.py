"""Filling a database fast, shared by the benchmarks and the province generator.

Rows go in without the ORM's unit of work: `bulk` inserts and returns the new ids;
`bench.writer.Writer` streams rows with explicit ids (COPY on PostgreSQL, executemany
on SQLite), `reset_sequences` then moves PostgreSQL's id sequences past them, and
`set_constraints_aside` lets PostgreSQL build indexes and check keys once at the end.
`synthetic_regions` is the made-up province of the ledger and draw benchmarks (the
generator loads the real one); `Clock` times phases.
"""

import os
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, text

from config import TestingConfig


def open_app(database_url=None, prefix="bench-", config=TestingConfig, migrate=True, **overrides):
    """(app, url, tmp): an app on `database_url` (default: a SQLite file in a temporary
    folder, also the evidence store), migrated to head unless `migrate` is false. Keep
    `tmp` alive while in use."""
    from flask_migrate import upgrade

    from server import create_app

    tmp = tempfile.TemporaryDirectory(prefix=prefix)
    url = database_url or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    for scheme in ("postgres://", "postgresql://"):  # as config.py reads DATABASE_URL
        if url.startswith(scheme):
            url = "postgresql+psycopg://" + url[len(scheme) :]
    settings = {"UPLOAD_DIR": tmp.name, "LOG_LEVEL": "WARNING"} | overrides
    app = create_app(config, SQLALCHEMY_DATABASE_URI=url, **settings)
    if migrate:
        with app.app_context():
            upgrade()
    return app, url, tmp


def bulk(model, rows):
    """Insert dicts; the new ids, in the order of the rows."""
    from server.extensions import db

    stmt = insert(model).returning(model.id, sort_by_parameter_order=True)
    return list(db.session.scalars(stmt, rows))


def users(role, prefix, n, extra=lambda: {}):
    """`n` users with one role each, phones `prefix` + 8 digits; their ids."""
    from server.extensions import db
    from server.models import User, UserRole

    rows = [{"name": f"{role} {i}", "phone": f"{prefix}{i:08d}"} | extra() for i in range(n)]
    user_ids = bulk(User, rows)
    db.session.execute(insert(UserRole), [{"user_id": u, "role": role} for u in user_ids])
    return user_ids


def synthetic_regions(n_postings, n_counties, townships, city="340400000000"):
    """A province, one city, `n_counties` counties of `townships` townships and about
    2.5 postings' worth of villages per village, all with the same post position.
    Returns (ids by code, county codes, township codes, village codes)."""
    from server.models import Region

    ids = {}

    def add(level, codes, **extra):
        rows = [{"code": c, "name": f"{level} {c}", "level": level, "parent_id": p, **extra}
                for c, p in codes]  # fmt: skip
        ids.update(zip([c for c, _ in codes], bulk(Region, rows), strict=True))

    def parent(code, digits):
        return ids[code[:digits].ljust(12, "0")]

    add("province", [(city[:2].ljust(12, "0"), None)])
    add("city", [(city, parent(city, 2))])
    counties = [f"{city[:4]}{c:02d}000000" for c in range(1, n_counties + 1)]
    add("county", [(c, parent(c, 4)) for c in counties])
    towns = [f"{c[:6]}{t:03d}000" for c in counties for t in range(101, 101 + townships)]
    add("township", [(t, parent(t, 6)) for t in towns])
    per_township = -(-n_postings * 2 // 5 // len(towns))
    villages = [f"{t[:9]}{v:03d}" for t in towns for v in range(1, per_township + 1)]
    fence = {"latitude": 32.7, "longitude": 116.7, "geofence_radius_m": 1000}
    add("village", [(v, parent(v, 9)) for v in villages], **fence)
    return ids, counties, towns, villages


def reset_sequences(session, tables):
    """After rows with explicit ids: the next id PostgreSQL hands out follows them
    (SQLite takes max(rowid) + 1 by itself)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for name in tables:
        session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "
                f'coalesce(max(id), 1), max(id) IS NOT NULL) FROM "{name}"'
            )
        )


def set_constraints_aside(session, tables):
    """PostgreSQL, before a bulk load into `tables`: drop their foreign keys, unique
    constraints and plain indexes; returns the function that puts them back from their
    own definitions, in the same transaction. PostgreSQL's advice for populating a
    database: building an index once, and checking a key in one pass, cost a fraction of
    doing it row by row. Putting them back checks every row; primary keys stay."""
    if session.get_bind().dialect.name != "postgresql":
        return _sqlite_indexes_aside(session, tables)
    tables = {"tables": list(tables)}
    constraints = session.execute(  # unique ones first: a foreign key may lean on one
        text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype IN ('u', 'f') AND conrelid::regclass::text = ANY(:tables)"
            " ORDER BY contype DESC, conname"
        ),
        tables,
    ).all()
    indexes = session.execute(
        text(
            "SELECT indexname, indexdef FROM pg_indexes i WHERE schemaname = current_schema()"
            " AND tablename = ANY(:tables)"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
        ),
        tables,
    ).all()
    for table, name, _ in reversed(constraints):
        session.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    for name, _ in indexes:
        session.execute(text(f'DROP INDEX "{name}"'))

    def restore():
        session.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        for _, definition in indexes:
            session.execute(text(definition))
        for table, name, definition in constraints:
            session.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))

    return restore


def _sqlite_indexes_aside(session, tables):
    """SQLite: the plain indexes only (its keys cannot be switched off in a transaction),
    and a bigger page cache meanwhile, so the load does not spill pages to the log."""
    names = ", ".join(f"'{name}'" for name in tables)
    indexes = session.execute(
        text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            f" AND tbl_name IN ({names})"
        )
    ).all()
    for name, _ in indexes:
        session.execute(text(f'DROP INDEX "{name}"'))
    session.execute(text("PRAGMA cache_size = -262144"))  # 256 MiB

    def restore():
        for _, definition in indexes:
            session.execute(text(definition))
        session.execute(text("PRAGMA cache_size = -2000"))  # SQLite's default

    return restore


class Clock:
    """Seconds per phase: wall clock, this process's CPU, and (when the database is a
    PostgreSQL server on this machine) the CPU of the server process serving us."""

    def __init__(self, session):
        self.phases, self.session, self.backend = {}, session, None
        if session.get_bind().dialect.name == "postgresql":
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            self.backend = Path(f"/proc/{pid}/stat")
        self.last = self._now()

    def _now(self):
        database = None
        if self.backend is not None and self.backend.exists():
            fields = self.backend.read_text().rsplit(")", 1)[1].split()
            database = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return time.perf_counter(), time.process_time(), database

    def phase(self, name):
        now = self._now()
        database = None if now[2] is None or self.last[2] is None else now[2] - self.last[2]
        self.phases[name] = (now[0] - self.last[0], now[1] - self.last[1], database)
        self.last = now
