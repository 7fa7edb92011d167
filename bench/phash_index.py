"""Near-duplicate lookup over a large number of stored perceptual hashes.

    python -m bench.phash_index [--n 1000000] [--queries 300] [--no-db]

1. The lookup alone over n random 64-bit hashes held in memory: hamming_index.scan
   reading every hash, and with a HammingIndex over them (as photo_index keeps one),
   with the time to build the index and to merge 64 Ki new hashes into it.
2. The whole path through a temporary SQLite database of n Photo rows: the first query
   (which loads every hash), then near_duplicates() as the service calls it, each query
   refreshing the cache from the trailing window and confirming its hits in the database.
"""

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from bench import cpu_model, summary
from server.extensions import db
from server.services import hamming_index, photo_index

RECENT = 200  # rows inside the 10-minute window, as during a busy morning


def random_hashes(n: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**64, size=n, dtype=np.uint64)


def near(value: int, rng, bits: int) -> int:
    """`value` with `bits` random bits flipped, as a signed int64."""
    for bit in rng.choice(64, size=bits, replace=False):
        value ^= 1 << int(bit)
    return value - 2**64 if value >= 2**63 else value


def signed(value) -> int:
    value = int(value)
    return value - 2**64 if value >= 2**63 else value


def bench_scan(hashes: np.ndarray, queries: int) -> None:
    ids = np.arange(1, len(hashes) + 1, dtype=np.int64)
    alive = np.ones(len(hashes), bool)
    rng = np.random.default_rng(1)
    probes = [near(int(hashes[i]), rng, 4) for i in rng.integers(0, len(hashes), queries)]
    times = []
    for probe in probes:
        start = time.perf_counter()
        hits, _ = hamming_index.scan(ids, hashes, alive, probe, 8)
        times.append(time.perf_counter() - start)
        assert len(hits) >= 1
    print(f"  scan of {len(hashes):,} hashes in memory: {summary(times)}")
    start = time.perf_counter()
    index = hamming_index.HammingIndex.build(hashes)
    print(f"  multi-index of them, built once:     {1000 * (time.perf_counter() - start):.0f} ms")
    times = []
    for probe in probes:
        start = time.perf_counter()
        found, _ = hamming_index.scan(ids, hashes, alive, probe, 8, index)
        times.append(time.perf_counter() - start)
        assert len(found) >= 1
    print(f"  lookup in the multi-index:            {summary(times)}")
    more = np.concatenate([hashes, random_hashes(1 << 16, seed=8)])
    start = time.perf_counter()
    index.extend(more)
    print(f"  64 Ki new hashes merged into it:      {1000 * (time.perf_counter() - start):.0f} ms")


def fill_database(path: Path, hashes: np.ndarray) -> None:
    engine = create_engine(f"sqlite:///{path}")
    db.metadata.create_all(engine)
    engine.dispose()
    now = datetime.now(UTC).replace(tzinfo=None)
    n = len(hashes)
    # Spread over a year, the newest RECENT rows inside the refresh window.
    ages = np.concatenate([np.linspace(365 * 86400, 3600, n - RECENT), np.linspace(300, 0, RECENT)])
    rows = (
        (
            i + 1,
            i + 1,
            f"{i + 1:064x}",
            f"{int(h):016x}",
            signed(h),
            (now - timedelta(seconds=float(age))).strftime("%Y-%m-%d %H:%M:%S.%f"),
        )
        for i, (h, age) in enumerate(zip(hashes, ages, strict=True))
    )
    with sqlite3.connect(path) as connection:
        connection.executemany(
            "INSERT INTO photo (id, checkin_id, position, sha256, format, mime_type, size_bytes,"
            " width, height, phash, phash_int, received_at)"
            " VALUES (?, 1, ?, ?, 'jpeg', 'image/jpeg', 1, 1, 1, ?, ?, ?)",
            rows,
        )


def bench_database(hashes: np.ndarray, queries: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "index.db"
        start = time.perf_counter()
        fill_database(path, hashes)
        print(
            f"  filled a temporary SQLite database with {len(hashes):,} photo rows"
            f" in {time.perf_counter() - start:.1f} s"
        )
        engine = create_engine(f"sqlite:///{path}")
        rng = np.random.default_rng(2)
        probes = [near(int(hashes[i]), rng, 4) for i in rng.integers(0, len(hashes), queries)]
        with Session(engine) as session:
            photo_index.reset()
            start = time.perf_counter()
            photo_index.near_duplicates(probes[0], session=session)
            print(f"  first query, loading every hash:  {time.perf_counter() - start:.2f} s")
            times = []
            for probe in probes:
                start = time.perf_counter()
                found = photo_index.near_duplicates(probe, session=session)
                times.append(time.perf_counter() - start)
                assert found, "a planted near-duplicate was missed"
            print(f"  near_duplicates() ({RECENT} rows in the window): {summary(times)}")
        engine.dispose()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--no-db", action="store_true", help="skip the SQLite load path")
    args = parser.parse_args(argv)
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} CPUs; Python {sys.version.split()[0]},"
        f" NumPy {np.__version__}"
    )
    hashes = random_hashes(args.n)
    bench_scan(hashes, args.queries)
    if not args.no_db:
        bench_database(hashes, args.queries)


if __name__ == "__main__":
    main()
