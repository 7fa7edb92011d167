"""A random inspection draw end to end through the database and the service layer:
freeze the frame (`draws.create`), run it (`draws.execute`), reveal and build the proof
(`draws.reveal`, `draws.proof`), then check it with the stand-alone verifier.

    .venv/bin/python -m bench.draw_db [--database-url URL] [--postings 20000]
        [--counties 20] [--inspectors 2000] [--runs 3] [--profile]

Fills a fresh database (a temporary SQLite file, or an EMPTY PostgreSQL database you
name) with bulk inserts: a province, a city, the counties (10 townships each, about 2.5
postings per village), 40 dispatching units, one active resident posting per cadre
(10% "key": an open high-severity flag), inspectors working in the city (each with a
unit, a home township or county and 2 declared relationships) and 3 earlier executed
draws, so that recent villages are known. Then `--runs` draws on the same data, city
scope, with the parameters as DrawCreateSchema loads them; each run's assignments count
as recent visits for the next. `--profile` adds one profiled run, not timed. Prints
figures; asserts nothing.
"""

import argparse
import contextlib
import cProfile
import json
import os
import pstats
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, insert

from bench.bulk import bulk, open_app, synthetic_regions, users
from config import BASE_DIR

CITY = "340400000000"
TOWNSHIPS, UNITS = 10, 40  # townships per county, dispatching units in all
STATEMENTS = []  # every SQL statement sent, to count them per step


def fill(n_postings, n_counties, n_inspectors, rng):
    """The world, in bulk. Returns (admin user id, number of villages)."""
    from server import models as m
    from server.extensions import db

    ids, counties, townships, villages = synthetic_regions(n_postings, n_counties, TOWNSHIPS)

    unit_rows = [
        {"name": f"bench unit {u}", "level": "county", "region_id": ids[counties[u % n_counties]]}
        for u in range(UNITS)
    ]
    units = bulk(m.Unit, unit_rows)
    units_in = {}  # county region id -> its units
    for unit, row in zip(units, unit_rows, strict=True):
        units_in.setdefault(row["region_id"], []).append(unit)

    cadres = users("cadre", "139", n_postings)
    homes = [ids[code] for code in townships + counties]
    inspectors = users(  # working in the city, with a unit and a township or county home
        "inspector",
        "138",
        n_inspectors,
        lambda: (
            {"jurisdiction_id": ids[CITY], "unit_id": rng.choice(units)}
            | {"home_region_id": rng.choice(homes)}
        ),
    )
    (admin,) = users("admin", "137", 1)

    shuffled = rng.sample(villages, len(villages))  # every village, then the rest spread out
    posted = [shuffled[i % len(villages)] for i in range(n_postings)]  # cadre i's village
    postings = bulk(
        m.Posting,
        [
            {"cadre_id": cadre, "village_id": ids[v], "start_date": date(2026, 1, 1)}
            | {"unit_id": rng.choice(units_in[ids[v[:6].ljust(12, "0")]]), "status": "active"}
            | {"role": "first_secretary" if i < len(villages) else "team_member"}
            for i, (cadre, v) in enumerate(zip(cadres, posted, strict=True))
        ],
    )
    at = datetime.now(UTC) - timedelta(days=1)
    checkin = {"content_hash": "0" * 64, "kind": "presence", "device_id": "bench"} | {
        **{"latitude": 32.8, "longitude": 116.7, "accuracy_m": 10.0, "verdict": "flagged"},
        **{"captured_at": at, "captured_offset_min": 480, "local_date": at.date()},
        "local_time": at.time(),
    }
    key = rng.sample(range(n_postings), n_postings // 10)  # an open high-severity flag each
    checkins = bulk(
        m.Checkin,
        [
            checkin
            | {"client_id": str(uuid.uuid4()), "posting_id": postings[i]}
            | {"cadre_id": cadres[i], "village_id": ids[posted[i]]}
            for i in key
        ],
    )
    flag = {"code": "outside_geofence", "severity": "high", "status": "open", "details": {}}
    db.session.execute(insert(m.Flag), [{"checkin_id": c, **flag} for c in checkins])
    ties = [{"inspector_id": i, "cadre_id": c} for i in inspectors for c in rng.sample(cadres, 2)]
    db.session.execute(insert(m.DeclaredRelationship), ties)
    for n in range(3):  # earlier executed draws, 200 visits of 2 inspectors each
        start = at - timedelta(days=30 * (3 - n))
        draw = {"owner_id": admin, "scope_id": ids[CITY], "kind": "visit", "mode": "commit-reveal"}
        draw |= {"status": "executed", "window_start": start, "window_end": start + timedelta(2)}
        draw |= {"parameters": {}, "frame": "{}", "frame_hash": "0" * 64, "salt": "0" * 64}
        (draw_id,) = bulk(m.Draw, [draw | {"beacon_spec": {}}])
        visits = [
            {"draw_id": draw_id, "posting_id": postings[i], "village_id": ids[posted[i]]}
            | {"rank": rank, "stratum": posted[i][:6]}
            for rank, i in enumerate(rng.sample(range(n_postings), 200), start=1)
        ]
        teams = [
            {"assignment_id": a, "inspector_id": i}
            for a in bulk(m.Assignment, visits)
            for i in rng.sample(inspectors, 2)
        ]
        db.session.execute(insert(m.assignment_inspector), teams)
    db.session.commit()
    return admin, len(villages)


def one_draw(app, admin_id, n, profiles=None):
    """One draw through the service layer, each step in its own app context (as each
    request is). Returns ({step: (wall s, CPU s)}, facts about the draw)."""
    from schemas.draws import DrawCreateSchema
    from server.extensions import db
    from server.models import User
    from server.services import draws

    now = datetime.now(UTC)
    params = DrawCreateSchema().load(
        {
            **{"scope_code": CITY, "ratio": "0.03", "key_ratio": "0.10", "team_size": 2},
            **{"load_cap": 3, "recusal": {"recent_draws": 3}},  # all recusal rules on
            "window_start": now.isoformat(),
            "window_end": (now + timedelta(days=2)).isoformat(),
            "beacon_spec": {"source": "福彩双色球", "issue": f"2026{n:03d}"},
        }
    )
    times, facts = {}, {}
    path = Path(app.config["UPLOAD_DIR"]) / f"proof-{n}.json"

    def step(name, fn, **kwargs):
        with app.app_context():
            actor = db.session.get(User, admin_id)
            actor.role_rows  # noqa: B018  (auth loads these before the service runs)
            profile = (
                profiles.setdefault(name, cProfile.Profile()) if profiles is not None else None
            )
            q, w, c = len(STATEMENTS), time.perf_counter(), time.process_time()
            with profile or contextlib.nullcontext():
                value = fn(actor=actor, **kwargs)
            times[name] = (time.perf_counter() - w, time.process_time() - c)
            facts[f"SQL statements, {name.split(' (')[0]}"] = len(STATEMENTS) - q
            if name.startswith("create"):  # facts read outside the timing
                facts["frame bytes"] = len(value.frame.encode())
                facts["frame targets"] = len(json.loads(value.frame)["targets"])
                return value.id
            if name.startswith("execute"):
                facts["picked"] = len(value.result["targets"])
                facts["infeasible"] = sum(1 for t in value.result["targets"] if t["infeasible"])

    def reveal_and_prove(actor):
        draws.reveal(actor=actor, draw_id=draw_id)
        body = draws.proof(actor=actor, draw_id=draw_id)
        path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")

    draw_id = step("create (freeze the frame)", draws.create, **params)
    step("execute (draw + assignments)", draws.execute, draw_id=draw_id, beacon_value=f"b{n}")
    step("reveal + proof + write file", reveal_and_prove)
    facts["proof bytes"] = path.stat().st_size
    w, c = time.perf_counter(), os.times()
    verifier = [sys.executable, "-m", "server.tools.verify_draw", str(path)]
    out = subprocess.run(verifier, cwd=BASE_DIR, capture_output=True, text=True)
    c = [b - a for a, b in zip(c, os.times(), strict=True)]  # children_user, children_system
    times["verifier (subprocess)"] = (time.perf_counter() - w, c[2] + c[3])
    facts["verdict"] = out.stdout.split("\n")[0] or out.stderr.strip()
    return times, facts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--postings", type=int, default=20_000)
    parser.add_argument("--counties", type=int, default=20)
    parser.add_argument("--inspectors", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="one more run, profiled")
    args = parser.parse_args()

    from server.extensions import db

    app, url, tmp = open_app(args.database_url, prefix="bench-draw-db-")
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *a: STATEMENTS.append(a[2]))
        w, c = time.perf_counter(), time.process_time()
        admin_id, n_villages = fill(args.postings, args.counties, args.inspectors, random.Random(7))
        w, c = time.perf_counter() - w, time.process_time() - c
    print(f"database: {url.split('@')[-1]}")
    print(
        f"data fill: {w:.2f} s wall, {c:.2f} s CPU ({args.postings} postings in {n_villages} "
        f"villages, {args.counties} counties, {args.inspectors} inspectors, {UNITS} units)"
    )
    runs = [one_draw(app, admin_id, n) for n in range(1, args.runs + 1)]
    for name in runs[0][0]:
        wall = [times[name][0] for times, _ in runs]
        cpu = [times[name][1] for times, _ in runs]
        print(
            f"{name:<30} wall median {statistics.median(wall):6.3f} s  min {min(wall):6.3f} s"
            f"   CPU median {statistics.median(cpu):6.3f} s"
        )
    for fact in runs[0][1]:
        print(f"  {fact}: {', '.join(str(facts[fact]) for _, facts in runs)}")
    if args.profile:
        profiles = {}
        one_draw(app, admin_id, args.runs + 1, profiles)
        for name, profile in profiles.items():
            print(f"\n---- profile: {name} (cumulative, functions in server/)")
            stats = pstats.Stats(profile, stream=sys.stdout).sort_stats("cumulative")
            stats.print_stats(str(BASE_DIR / "server") + "/", 15)
    tmp.cleanup()


if __name__ == "__main__":
    main()
