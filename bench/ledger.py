"""The monthly ledger at province scale, and its XLSX and CSV exports.

    .venv/bin/python -m bench.ledger [--database-url URL] [--postings 10000]
        [--checkins-per-posting 60] [--runs 3]

Fills a fresh database (a temporary SQLite file, or an EMPTY PostgreSQL database you
name) with bulk inserts: 20 counties of 10 townships, one posting per cadre (90% resident,
10% paired aid cadres with 3 households each), and for March 2026 about
`--checkins-per-posting` presence check-ins per posting (on about 25 of the 31 days, at
several times of day; 4% flagged with an open flag, 1% rejected), household visits, an
approved leave or duty trip for one posting in ten, and 300 final inspection findings.
Then times `ledger.month_ledger` for the whole province (an admin's view), the XLSX
export and the CSV export. Prints figures; asserts nothing.
"""

import argparse
import random
import statistics
import time
import tracemalloc
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, insert, select

from bench.bulk import bulk, open_app, synthetic_regions

MONTH = "2026-03"
FIRST = date(2026, 3, 1)
COUNTIES, TOWNSHIPS = 20, 10
CHUNK = 20_000


def fill(n_postings, per_posting, rng):
    from server import models as m
    from server.extensions import db

    ids, counties, _, villages = synthetic_regions(n_postings, COUNTIES, TOWNSHIPS)
    units = bulk(
        m.Unit,
        [{"name": f"单位 {u}", "level": "county", "region_id": ids[counties[u % 20]]}
         for u in range(40)],
    )  # fmt: skip
    cadres = bulk(m.User, [{"name": f"干部{i}", "phone": f"139{i:08d}"} for i in range(n_postings)])
    db.session.execute(insert(m.UserRole), [{"user_id": u, "role": "cadre"} for u in cadres])
    (admin,) = bulk(m.User, [{"name": "admin", "phone": "13700000000"}])
    db.session.execute(insert(m.UserRole), [{"user_id": admin, "role": "admin"}])
    posted = [villages[i % len(villages)] for i in range(n_postings)]
    roles = ["paired_aid" if i % 10 == 9 else "first_secretary" for i in range(n_postings)]
    postings = bulk(
        m.Posting,
        [
            {"cadre_id": c, "village_id": ids[v], "unit_id": rng.choice(units), "role": r}
            | {"start_date": date(2026, 1, 1), "status": "active"}
            for c, v, r in zip(cadres, posted, roles, strict=True)
        ],
    )
    households = {}
    for i, pid in enumerate(postings):
        if roles[i] == "paired_aid":
            rows = [{"village_id": ids[posted[i]], "code": f"H{i}-{k}", "head_name": "户主"}
                    for k in range(3)]  # fmt: skip
            households[pid] = bulk(m.Household, rows)
            db.session.execute(
                insert(m.household_cadre),
                [{"household_id": h, "cadre_id": cadres[i]} for h in households[pid]],
            )

    base = {"content_hash": "0" * 64, "device_id": "bench", "accuracy_m": 10.0}
    base |= {"latitude": 32.7, "longitude": 116.7, "captured_offset_min": 480}
    batch, count = [], 0

    def flush():
        nonlocal batch
        if batch:  # plain executemany: no ids needed back
            db.session.execute(insert(m.Checkin.__table__), batch)
        batch = []

    for i, pid in enumerate(postings):
        days = rng.sample(range(31), 25)
        for n in range(per_posting):
            day = FIRST + timedelta(days=days[n % 25])
            at = datetime(day.year, day.month, day.day, 6 + n % 15, 30, tzinfo=UTC)
            roll = rng.random()
            verdict = "flagged" if roll < 0.04 else "rejected" if roll < 0.05 else "accepted"
            kind, household = "presence", None
            if pid in households and n % 4 == 0:
                kind, household = "household_visit", rng.choice(households[pid])
            batch.append(
                base
                | {"client_id": str(uuid.uuid4()), "cadre_id": cadres[i], "posting_id": pid}
                | {"village_id": ids[posted[i]], "kind": kind, "household_id": household}
                | {"captured_at": at - timedelta(hours=8), "local_date": day}
                | {"local_time": at.time(), "verdict": verdict}
            )
            count += 1
            if len(batch) >= CHUNK:
                flush()
    flush()
    flagged = db.session.scalars(select(m.Checkin.id).where(m.Checkin.verdict == "flagged"))
    db.session.execute(
        insert(m.Flag),
        [{"checkin_id": c, "code": "outside_geofence", "severity": "high", "status": "open",
          "details": {}} for c in flagged.all()],
    )  # fmt: skip
    leaves = []
    for i in rng.sample(range(n_postings), n_postings // 10):
        start = FIRST + timedelta(days=rng.randrange(25))
        leaves.append(
            {"posting_id": postings[i], "cadre_id": cadres[i], "reason": "bench"}
            | {"kind": rng.choice(["leave", "duty_trip"]), "status": "approved"}
            | {"start_date": start, "end_date": start + timedelta(days=rng.randrange(5))}
            | {"approver_level": "county"}
        )
    db.session.execute(insert(m.Leave), leaves)
    window = datetime(2026, 3, 1, tzinfo=UTC)
    (draw,) = bulk(
        m.Draw,
        [{"owner_id": admin, "scope_id": ids["340400000000"], "kind": "visit",
          "mode": "commit-reveal", "status": "executed", "window_start": window,
          "window_end": window + timedelta(days=30), "parameters": {}, "frame": "{}",
          "frame_hash": "0" * 64, "salt": "0" * 64, "beacon_spec": {}}],
    )  # fmt: skip
    picked = rng.sample(range(n_postings), 300)
    assignments = bulk(
        m.Assignment,
        [{"draw_id": draw, "posting_id": postings[i], "village_id": ids[posted[i]],
          "rank": r, "stratum": posted[i][:6]} for r, i in enumerate(picked)],
    )  # fmt: skip
    db.session.execute(
        insert(m.Finding),
        [{"assignment_id": a, "outcome": rng.choice(["present", "absent"]), "status": "final",
          "observed_at": window + timedelta(days=rng.randrange(28), hours=2),
          "created_by_id": admin} for a in assignments],
    )  # fmt: skip
    db.session.commit()
    return admin, count, db.session.scalar(select(func.count(m.Flag.id)))


def timed(app, admin_id, fn):
    from server.extensions import db
    from server.models import User

    with app.app_context():
        actor = db.session.get(User, admin_id)
        actor.role_rows  # noqa: B018  (auth loads these before a service runs)
        wall, cpu = time.perf_counter(), time.process_time()
        value = fn(actor)
        return value, time.perf_counter() - wall, time.process_time() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--postings", type=int, default=10_000)
    parser.add_argument("--checkins-per-posting", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from server.extensions import db
    from server.services import exports, ledger

    app, url, tmp = open_app(args.database_url, prefix="bench-ledger-")
    with app.app_context():
        wall = time.perf_counter()
        admin_id, n_checkins, n_flags = fill(
            args.postings, args.checkins_per_posting, random.Random(11)
        )
        wall = time.perf_counter() - wall
        if db.engine.dialect.name == "postgresql":  # fresh statistics, as autovacuum would
            with db.engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")
    print(f"database: {url.split('@')[-1]}")
    print(
        f"data fill: {wall:.1f} s ({args.postings} postings, {n_checkins} check-ins in "
        f"{MONTH}, {n_flags} open flags)"
    )

    def month(actor):
        return ledger.month_ledger(actor=actor, month=MONTH)

    results = {"ledger": [], "xlsx": [], "csv": []}
    for _ in range(args.runs):
        found, wall, cpu = timed(app, admin_id, month)
        results["ledger"].append((wall, cpu))
        _, wall, cpu = timed(app, admin_id, lambda _actor, f=found: exports.ledger_xlsx(f))
        results["xlsx"].append((wall, cpu))
        _, wall, cpu = timed(app, admin_id, lambda _actor, f=found: exports.ledger_csv(f))
        results["csv"].append((wall, cpu))
    statuses = {}
    for row in found.rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    print(f"rows: {len(found.rows)}, by status: {statuses}")
    for name, runs in results.items():
        wall = [w for w, _ in runs]
        cpu = [c for _, c in runs]
        print(
            f"{name:<7} wall median {statistics.median(wall):6.3f} s  min {min(wall):6.3f} s"
            f"   CPU median {statistics.median(cpu):6.3f} s"
        )
    tracemalloc.start()
    found, *_ = timed(app, admin_id, month)
    data, *_ = timed(app, admin_id, lambda _actor: exports.ledger_xlsx(found))
    peak = tracemalloc.get_traced_memory()[1]
    print(f"peak Python memory, ledger + XLSX: {peak / 2**20:.0f} MiB; XLSX {len(data)} bytes")
    tmp.cleanup()


if __name__ == "__main__":
    main()
