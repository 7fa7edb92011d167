"""The morning-peak run: log the phones in, warm the workers, then photo check-ins at
each arrival rate in turn, with latency, errors and CPU per rate (see __init__.py)."""

import argparse
import asyncio
import csv
import itertools
import json
import os
import platform
import random
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.load import client, phones, photos
from bench.load.server import LIMITS, Gunicorn
from bench.load.usage import Sample

COLUMNS = (
    ("rate/s", "rate", "{:g}"),
    ("requests", "requests", "{}"),
    ("done/s", "achieved_per_s", "{:.1f}"),
    ("p50 ms", "p50_ms", "{:.0f}"),
    ("p95 ms", "p95_ms", "{:.0f}"),
    ("p99 ms", "p99_ms", "{:.0f}"),
    ("max ms", "max_ms", "{:.0f}"),
    ("app p50 ms", "app_p50_ms", "{:.0f}"),
    ("app p99 ms", "app_p99_ms", "{:.0f}"),
    ("errors", "errors", "{}"),
    ("err %", "error_pct", "{:.2f}"),
    ("gunicorn CPU s", "gunicorn_cpu", "{:.1f}"),
    ("postgres CPU s", "postgres_cpu", "{:.1f}"),
    ("generator CPU s", "generator_cpu", "{:.1f}"),
    ("machine busy %", "machine_busy_pct", "{:.0f}"),
    ("worker boots", "worker_boots", "{}"),
)


def parse(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--rates", default="10,20,40", help="check-ins per second, in turn")
    parser.add_argument("--seconds", type=float, default=60, help="per rate")
    parser.add_argument("--phones", type=int, default=1000, help="phones logged in and used")
    parser.add_argument("--workers", type=int, help="default: gunicorn.conf.py's (one per core)")
    parser.add_argument("--arrivals", choices=("poisson", "even"), default="poisson")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured check-ins, 3/s")
    parser.add_argument("--pause", type=float, default=10, help="seconds between rates")
    parser.add_argument("--login-concurrency", type=int, default=6)
    parser.add_argument("--timeout", type=float, default=60, help="per request, seconds")
    parser.add_argument("--photos", default=",".join(photos.PHONE_JPEGS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument(
        "--keep", help="folder for every request's timing (CSV per rate) and gunicorn's logs"
    )
    args = parser.parse_args(argv)
    args.rates = [float(r) for r in args.rates.split(",")]
    return args


def main(argv=None):
    args = parse(argv)
    url = args.database_url
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            url = "postgresql+psycopg://" + url[len(scheme) :]
    engine = create_engine(url, isolation_level="AUTOCOMMIT")  # fresh pg_stat_activity
    pool = photos.load(args.photos.split(","))
    minutes = _estimated_minutes(args)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp, engine.connect() as db:
        chosen = phones.load(db, args.phones, args.seed)
        report = {"setup": _setup(args, db, chosen, pool, minutes)}
        _print_setup(report["setup"])
        server = Gunicorn(args.database_url, tmp, workers=args.workers,
                          token_minutes=max(15, int(minutes * 2) + 15))  # fmt: skip
        try:
            server.start()
            report |= asyncio.run(_drive(args, server, db, chosen, pool))
        finally:
            server.stop()
            if args.keep:
                _keep_logs(server, args.keep)
    engine.dispose()
    _print_results(report)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2, default=str)


async def _drive(args, server, db, chosen, pool):
    http = client.Server("127.0.0.1", server.port, args.timeout)
    before, boots = Sample(server.pid, db), server.boots()
    start = time.monotonic()
    logins = await client.closed_loop(chosen, args.login_concurrency, _login(http))
    outcomes = [o for _, o in logins]
    usage = Sample(server.pid, db).since(before)
    login = _summary(outcomes, usage, server.boots() - boots, server.durations())
    login["elapsed_s"] = round(time.monotonic() - start, 1)
    login["per_s"] = round(len(outcomes) / login["elapsed_s"], 1)
    ready = [phone for phone, o in logins if o.status == 200]
    for phone, outcome in logins:
        if outcome.status == 200:
            phone.access_token = json.loads(outcome.body)["access_token"]
    print(f"log-ins: {len(ready)} of {len(chosen)} phones in {login['elapsed_s']} s", flush=True)
    if not ready:
        raise SystemExit(f"no phone could log in: {login['error_kinds']}")
    send = _checkins(http, ready, pool, random.Random(args.seed))
    warm = await client.open_loop(3, args.warmup / 3, send, seed=args.seed)
    warmup = _summary(warm, {}, None, server.durations())
    results = {"login": login, "warmup": warmup, "rates": []}
    print(
        f"warm-up: {len(warm)} check-ins, p50 {warmup['p50_ms']} ms, max {warmup['max_ms']} ms"
        f" (each worker's first requests open its connections), errors {warmup['errors']}",
        flush=True,
    )
    print(" | ".join(title for title, _, _ in COLUMNS), flush=True)
    for n, rate in enumerate(args.rates):
        await asyncio.sleep(args.pause)
        before, boots = Sample(server.pid, db), server.boots()
        outcomes = await client.open_loop(
            rate, args.seconds, send, poisson=args.arrivals == "poisson", seed=args.seed + n
        )
        usage = Sample(server.pid, db).since(before)
        durations = server.durations()
        row = {"rate": rate} | _summary(outcomes, usage, server.boots() - boots, durations)
        results["rates"].append(row)
        if args.keep:
            _keep_requests(Path(args.keep) / f"requests-{rate:g}-{n}.csv", outcomes, durations)
        print(_line(row), flush=True)
    results["gunicorn_errors"] = server.problems()
    return results


def _login(http):
    async def one(phone, scheduled):
        body, headers = client.json_body(phone.login_body())
        return await http.timed(scheduled, "POST", "/api/v1/auth/login", body, headers)

    return one


def _checkins(http, ready, pool, rng):
    """Phones take turns; each phone always sends photos from the same camera."""
    turn = itertools.count()

    async def one(scheduled):
        n = next(turn)
        phone = ready[n % len(ready)]
        form, data = phone.checkin(rng, pool[(n % len(ready)) % len(pool)])
        body, content_type = client.multipart(form, [("photos", f"IMG_{n:05d}.jpg", data)])
        headers = {"Authorization": f"Bearer {phone.access_token}", "Content-Type": content_type}
        return await http.timed(scheduled, "POST", "/api/v1/checkins", body, headers)

    return one


def _summary(outcomes, usage, boots, durations):
    seconds = 0.0
    if outcomes:
        first = min(o.scheduled for o in outcomes)
        seconds = max(o.scheduled + o.latency for o in outcomes) - first
    summary = client.Stats.of(outcomes, seconds).summary() | usage
    inside = sorted(durations[o.request_id] for o in outcomes if o.request_id in durations)
    summary["app_p50_ms"] = client.percentile(inside, 50)
    summary["app_p99_ms"] = client.percentile(inside, 99)
    summary["worker_boots"] = boots
    summary["flags"] = dict(Counter(_flag_codes(outcomes)))
    return summary


def _flag_codes(outcomes):
    for outcome in outcomes:
        if outcome.status in (200, 201):
            try:
                yield from (f["code"] for f in json.loads(outcome.body).get("flags", []))
            except (ValueError, AttributeError):
                continue


def _keep_requests(path, outcomes, durations):
    """One line a request, in order of scheduled start: when (seconds into the window),
    latency, start lag and time inside the app (ms), status: to see where a tail comes
    from (a burst of arrivals, a recycled worker, a stall)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    first = min((o.scheduled for o in outcomes), default=0.0)
    with open(path, "w", newline="") as out:
        rows = csv.writer(out)
        rows.writerow(["start_s", "latency_ms", "lag_ms", "app_ms", "status", "request_id"])
        for o in outcomes:
            rows.writerow([f"{o.scheduled - first:.3f}", f"{1000 * o.latency:.1f}",
                           f"{1000 * o.lag:.1f}", durations.get(o.request_id, ""),
                           o.status or o.error, o.request_id or ""])  # fmt: skip


def _keep_logs(server, folder):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for log in (server.stdout, server.stderr):
        if log.exists():
            shutil.copy(log, folder / log.name)


def _setup(args, db, chosen, pool, minutes):
    counts = {
        name: db.execute(
            text("SELECT reltuples::bigint FROM pg_class WHERE relname = :name"), {"name": name}
        ).scalar()
        if db.dialect.name == "postgresql"
        else db.execute(text(f"SELECT count(*) FROM {name}")).scalar()
        for name in ("checkin", "photo", "posting")
    }
    return {
        "when": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{_cpu_model()}, {os.cpu_count()} CPUs, load average {_load()} at start",
        "python": platform.python_version(),
        "database": f"{db.dialect.name}, rows (estimated): {counts}",
        "phones": len(chosen),
        "photos": [f"{p.name} ({len(p.data) / 1e6:.1f} MB)" for p in pool],
        "arrivals": args.arrivals,
        "rates": args.rates,
        "seconds_per_rate": args.seconds,
        "raised_limits": LIMITS,
        "estimated_minutes": round(minutes, 1),
    }


def _estimated_minutes(args):
    logins = args.phones / 5  # about 5 production Argon2 log-ins a second on 2 busy cores
    return (logins + args.warmup / 3 + len(args.rates) * (args.seconds + args.pause)) / 60


def _cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _load():
    return Path("/proc/loadavg").read_text().split()[0]


def _print_setup(setup):
    for key, value in setup.items():
        print(f"{key}: {value}")
    print(flush=True)


def _cell(row, key, fmt):
    value = row.get(key)
    return "-" if value is None else fmt.format(value)


def _line(row):
    return " | ".join(_cell(row, key, fmt) for _, key, fmt in COLUMNS)


def _print_results(report):
    login = report.get("login")
    if login:
        print(
            f"\nlog-ins (closed loop): {login['requests']} in {login['elapsed_s']} s "
            f"({login['per_s']}/s), p50 {login['p50_ms']} ms, p95 {login['p95_ms']} ms, "
            f"p99 {login['p99_ms']} ms, max {login['max_ms']} ms, errors {login['errors']} "
            f"{login['error_kinds'] or ''}; gunicorn CPU {login['gunicorn_cpu']:.1f} s, "
            f"postgres CPU {login['postgres_cpu'] or 0:.1f} s"
        )
    rows = report.get("rates", [])
    print("\n| " + " | ".join(title for title, _, _ in COLUMNS) + " |")
    print("|" + " --- |" * len(COLUMNS))
    for row in rows:
        print(f"| {_line(row)} |")
    for row in rows:
        print(f"  {row['rate']:g}/s: errors {row['error_kinds'] or 'none'}; flags {row['flags']}; "
              f"latest start {row['max_start_lag_ms']} ms after schedule")  # fmt: skip
    print("\n" + _threshold(rows))
    for line in report.get("gunicorn_errors", []):
        print(f"gunicorn: {line}")


def _threshold(rows):
    ordered = sorted(rows, key=lambda r: r["rate"])
    for before, row in zip([None, *ordered], ordered, strict=False):
        if row["p99_ms"] is not None and row["p99_ms"] > 1000:
            after = f" (at {before['rate']:g}/s it was {before['p99_ms']:.0f} ms)" if before else ""
            return f"p99 first passes 1 s at {row['rate']:g}/s: {row['p99_ms']:.0f} ms{after}"
    top = ordered[-1]["rate"] if ordered else 0
    return f"p99 stayed under 1 s at every rate tried (up to {top:g}/s)"
