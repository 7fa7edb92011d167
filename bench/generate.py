"""Province-scale data: Anhui's real divisions with cadres, postings, months of check-ins
with photo records, leave, draws, findings and closed months, for load tests and for
looking at.

    .venv/bin/python -m bench.generate --cadres 10000 --months 12 --database-url URL
        [--seed 1] [--until YYYY-MM] [--closed-months N] [--with-files] [--regions-dir DIR]

Only into an empty database (a row in any table and it refuses), which it migrates
first. The period is `--months` whole months ending with `--until` (default: last
month). Rows are written directly (`bench.writer`: COPY on PostgreSQL, executemany on
SQLite) with the ids, times and values the app would have given them; the same seed,
period and regions give the same rows on either database (password hashes, audit and
closure times aside). Nothing goes through the services except the month closures:
they use the real `month_close.close` (frozen ledger snapshot and hash, the month
rules' recommendations, their audit events), about half the time at province scale
(BENCHMARKS.md); `--closed-months 0` leaves them out. The audit log gets one
`bench.generate` event for the whole fill, no made-up event per row. Every user's
password is `Bench-2026`; some phones to log in with are printed at the end, with rows
per table and seconds per phase.
"""

import argparse
import random
import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, inspect, select, text, update

from bench import generate_attendance, generate_places
from bench.bulk import Clock, open_app, reset_sequences, set_constraints_aside
from bench.generate_checkins import Stream
from bench.generate_inspections import Inspections, close_months
from bench.generate_people import PASSWORD, People
from bench.writer import Writer
from server.errors import AppError, Conflict, Invalid
from server.extensions import db

INSPECTORS_PER_CADRE = 1 / 40


def _months(until, count):
    year, month = until
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def _bounds(months):
    first = date.fromisoformat(months[0] + "-01")
    after = date.fromisoformat(months[-1] + "-28") + timedelta(days=4)
    return first, after.replace(day=1) - timedelta(days=1)


def refuse_unless_empty():
    """Any row in any table (the migration bookkeeping aside) and we stop."""
    names = [n for n in inspect(db.engine).get_table_names() if n != "alembic_version"]
    quote = db.engine.dialect.identifier_preparer.quote
    with db.engine.connect() as connection:  # not the session: the migration comes next
        filled = [
            n
            for n in names
            if connection.execute(text(f"SELECT 1 FROM {quote(n)} LIMIT 1")).first()
        ]
    if filled:
        raise Conflict(
            "database_not_empty",
            f"The generator fills an empty database; {len(filled)} tables have rows "
            f"({', '.join(filled[:3])}...).",
            "生成器只能写入空数据库。",
        )


def generate(
    *, cadres, months, seed=1, until=None, with_files=False, regions_dir=None, closed_months=None
):
    """Fill the (empty) database of the current app. Returns (seconds per phase: wall,
    our CPU, the database's CPU; rows per table; the staff)."""
    from flask_migrate import upgrade

    from server.services import demo

    refuse_unless_empty()
    upgrade()
    period, today = _period(months, until)
    first, last_day = _bounds(period)
    rng = {name: random.Random(f"{seed}:{name}") for name in ("people", "plan", "draws")}
    writer, clock = Writer(db.session), Clock(db.session)
    places = generate_places.write_regions(writer, regions_dir or demo.regions_dir_from_env())
    generate_places.write_units(writer, places)
    clock.phase("regions and units")
    people = People(writer, places, rng["people"], first, last_day)
    staff = people.staff()
    posts = people.cadres(cadres)
    ties = people.inspectors(staff, posts, max(2, round(cadres * INSPECTORS_PER_CADRE)))
    people.write(posts, *people.finish(posts), ties)
    clock.phase("people, postings, households")
    plan = generate_attendance.build(posts, staff, rng["plan"], first, last_day, today)
    generate_attendance.write_leaves(writer, plan)
    clock.phase("attendance plan, leave")
    inspections = Inspections(writer, places, staff, posts, plan, rng["draws"])
    inspections.run(period)
    clock.phase("draws, findings")
    _checkins(writer, clock, (places, staff, posts, plan, inspections), seed, period, with_files)
    _finish(writer, {"seed": seed, "cadres": cadres, "period": [period[0], period[-1]]})
    clock.phase("commit; PostgreSQL: VACUUM (ANALYZE)")
    closing = period[:-1][: closed_months if closed_months is not None else len(period)]
    close_months(closing, staff, generate_places.PROVINCE)
    clock.phase(f"close {len(closing)} month{'s' * (len(closing) != 1)} (month_close.close)")
    return clock.phases, counts(), staff


def _period(months, until):
    """The months of the period, and today (Asia/Shanghai)."""
    from flask import current_app

    from server.services.ledger import local_today

    if current_app.config["TIMEZONE"] != "Asia/Shanghai":
        raise Invalid("timezone", "The generator writes UTC+8 local times.", "时区须为东八区。")
    today = local_today()
    if until is None:
        previous = today.replace(day=1) - timedelta(days=1)
        until = (previous.year, previous.month)
    period = _months(until, months)
    if date.fromisoformat(period[-1] + "-01") >= today.replace(day=1):
        raise Invalid("until", "The period must end before this month.", "时段须在本月之前结束。")
    return period, today


def _checkins(writer, clock, world, seed, period, with_files):
    from server import storage

    stream = Stream(writer, *world, seed, closed=set(period[:-1]), now=datetime.now(UTC))
    restore = set_constraints_aside(db.session, BIG_TABLES)
    stage = (lambda data, sha: storage.stage(db.session, data, sha)) if with_files else None
    with writer.background():
        stream.run(stage=stage)
    _close_out(stream)
    clock.phase("check-ins, photos, flags, reviews")
    restore()
    clock.phase("their indexes and keys rebuilt, checked")


def _finish(writer, summary):
    """Sequences past our ids, one audit event for the whole fill, commit, statistics."""
    from server.services import audit

    reset_sequences(db.session, SEQUENCED)
    summary |= {"rows": dict(writer.counts)}
    audit.record("bench.generate", object_type="database", summary=summary)
    db.session.commit()
    if writer.postgres:  # what autovacuum would do next, before the closures' queries
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM (ANALYZE)")


BIG_TABLES = ("checkin", "photo", "flag", "checkin_review")
SEQUENCED = (
    "region", "unit", "user_account", "device", "posting", "household",
    "declared_relationship", "leave", "finding", "checkin", "photo", "flag", "checkin_review",
)  # fmt: skip


def _close_out(stream):
    """What the stream learnt about rows written before it: leave close-outs (销假) and
    the inspection teams' arrival check-ins."""
    from server.models import Finding, Leave

    if stream.flags.closings:
        db.session.execute(
            update(Leave),
            [{"id": lid, "returned_on": day, "closed_at": at, "closed_by_checkin_id": cid}
             for lid, day, at, cid in stream.flags.closings],
        )  # fmt: skip
    if stream.flags.arrivals:
        rows = [{"id": f, "arrival_checkin_id": c} for f, c in stream.flags.arrivals]
        db.session.execute(update(Finding), rows)


def counts():
    connection = db.session.connection()  # on SQLite a second one would wait for its lock
    names = sorted(n for n in inspect(connection).get_table_names() if n != "alembic_version")
    quote = db.engine.dialect.identifier_preparer.quote
    return {
        n: db.session.execute(text(f"SELECT count(*) FROM {quote(n)}")).scalar_one() for n in names
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--cadres", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--until", help="last month of the period, YYYY-MM (default: last month)")
    parser.add_argument("--with-files", action="store_true", help="small real JPEGs in the store")
    parser.add_argument("--regions-dir")
    parser.add_argument(
        "--closed-months",
        type=int,
        help="how many months to close, oldest first (default: all but the last)",
    )
    args = parser.parse_args()

    from config import DevelopmentConfig

    # Production's password hashing, so log-ins against this data cost what they will.
    app, url, _tmp = open_app(args.database_url, config=DevelopmentConfig, migrate=False,
                              UPLOAD_DIR=DevelopmentConfig.UPLOAD_DIR)  # fmt: skip
    until = tuple(map(int, args.until.split("-"))) if args.until else None
    started = time.perf_counter()
    with app.app_context():
        try:
            phases, rows, staff = generate(
                cadres=args.cadres, months=args.months, seed=args.seed, until=until,
                with_files=args.with_files, regions_dir=args.regions_dir,
                closed_months=args.closed_months,
            )  # fmt: skip
        except AppError as refused:
            raise SystemExit(f"{refused.error}: {refused.message}") from None
        logins = _logins(staff)
    total = time.perf_counter() - started
    print(f"database: {url.split('@')[-1]}")
    print(f"{args.cadres} cadres, {args.months} months, seed {args.seed}: {total:.1f} s in all")
    print(f"  {'phase (seconds)':<40} {'wall':>7} {'our CPU':>8} {'database CPU':>13}")
    for name, (wall, cpu, database) in phases.items():
        database = "" if database is None else f"{database:.1f}"
        print(f"  {name:<40} {wall:7.1f} {cpu:8.1f} {database:>13}")
    print("rows:")
    for name, count in rows.items():
        if count:
            print(f"  {name:<28} {count:>10,}")
    print(f"log-ins (password {PASSWORD}):")
    for who, phone in logins:
        print(f"  {who:<34} {phone}")


def _logins(staff):
    """Someone to log in as for each role; the county is the one with most postings."""
    from server.models import Posting, Region, User

    def phone(user_id):
        return db.session.get(User, user_id).phone

    county = func.substr(Region.code, 1, 6)
    busiest = db.session.execute(
        select(county).join(Posting, Posting.village_id == Region.id)
        .group_by(county).order_by(func.count().desc(), county).limit(1)
    ).scalar_one()  # fmt: skip
    cadre = db.session.scalar(
        select(func.min(Posting.cadre_id)).where(
            Posting.status == "active", Posting.role == "first_secretary"
        )
    )
    return [
        ("admin", phone(staff.admin)),
        ("province reviewer", phone(staff.reviewers[generate_places.PROVINCE])),
        (f"county reviewer ({busiest})", phone(staff.reviewers[busiest.ljust(12, "0")])),
        ("inspector", phone(staff.inspectors[0][0])),
        ("cadre (first secretary)", phone(cadre)),
    ]


if __name__ == "__main__":
    main()
