"""What a retention run reads first: every check-in and photo something still holds.

    .venv/bin/python -m bench.retention_holds --database-url URL [--runs 3]

On a database filled by `bench.generate` (province scale: cases, recommendations citing
months, flags naming earlier check-ins), times `retention_holds.held()`, which a purge
reads once a run (and again only when something that can add a hold commits meanwhile).
Prints wall and CPU time and how much is held. Prints figures; asserts nothing.
"""

import argparse
import time

from bench import cpu_model
from bench.bulk import open_app


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.retention_holds", description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    app, url, tmp = open_app(args.database_url, migrate=False)
    from server.extensions import db
    from server.services import retention_holds

    print(f"machine: {cpu_model()}; database: {url.rsplit('@', 1)[-1]}")
    with app.app_context():
        for run in range(args.runs):
            wall, cpu = time.perf_counter(), time.process_time()
            held = retention_holds.held()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(
                f"  run {run + 1}: held() {wall:.1f} s wall, {cpu:.1f} s CPU of this process; "
                f"{len(held.checkins):,} check-ins and {len(held.photos):,} photos held",
                flush=True,
            )
            db.session.rollback()
    tmp.cleanup()


if __name__ == "__main__":
    main()
