"""The verifiable draw at province scale: build and hash the frame, run the draw, verify
the proof (each should take under 2 seconds).

    .venv/bin/python -m bench.draw [--targets 20000] [--inspectors 2000] [--runs 3]

A synthetic frame (fixed random seed): 20,000 targets in 20 counties (about 10% key),
2,000 inspectors each with a unit, 1-2 home codes (county or township), 5 recent
villages and 2 related targets; all recusal rules on, ratio 0.03, key ratio 0.10, team
size 2, load cap 3. "verify" is what the stand-alone verifier does with a proof file:
read and parse the JSON, validate and hash the frame, check the commitment, recompute
the draw and compare. Standard library only. Prints figures; asserts nothing.
"""

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from server.tools import drawing, rfc3797
from server.tools.verify_draw import load_proof, verify

COUNTIES = 20


def world(n_targets, n_inspectors, rng):
    """Plain data as the server would read it from its database (unsorted, ints)."""
    counties = [f"3404{c:02d}" for c in range(1, COUNTIES + 1)]
    townships = [f"{c}{t:03d}" for c in counties for t in range(100, 110)]
    villages = [f"{t}{v:03d}" for t in townships for v in range(201, 211)]
    units = list(range(1, 401))
    ids = set()
    while len(ids) < n_targets + n_inspectors:
        ids.add(f"{rng.getrandbits(64):016x}")
    ids = sorted(ids)  # a set's order varies from run to run
    rng.shuffle(ids)
    targets = []
    for tid in ids[:n_targets]:
        village = rng.choice(villages)
        targets.append(
            {
                "id": tid,
                "stratum": village[:6],
                "key": rng.random() < 0.10,
                "village": village,
                "unit": rng.choice(units),
            }
        )
    target_ids = [t["id"] for t in targets]
    inspectors = []
    for iid in ids[n_targets:]:
        home = [
            (rng.choice(counties) + "000000")
            if rng.random() < 0.5
            else rng.choice(townships) + "000"
            for _ in range(rng.randint(1, 2))
        ]
        inspectors.append(
            {
                "id": iid,
                "unit": rng.choice(units),
                "home": home,
                "recent_villages": rng.sample(villages, 5),
                "related": rng.sample(target_ids, 2),
            }
        )
    return targets, inspectors


RULES = {"ratio": "0.03", "key_ratio": "0.10", "team_size": 2, "load_cap": 3}


def timed(fn, runs):
    wall, cpu, value = [], [], None
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        value = fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return value, wall, cpu


def report(name, wall, cpu):
    print(
        f"{name:<34} wall median {statistics.median(wall):6.3f} s  min {min(wall):6.3f} s"
        f"   CPU median {statistics.median(cpu):6.3f} s"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=20_000)
    parser.add_argument("--inspectors", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    targets, inspectors = world(args.targets, args.inspectors, random.Random(2026))
    print(
        f"{len(targets)} targets in {COUNTIES} counties "
        f"({sum(t['key'] for t in targets)} key), {len(inspectors)} inspectors, "
        f"rules {RULES}, all recusal rules on; {args.runs} runs each"
    )

    def build_and_hash():
        frame = drawing.build_frame("17", "visit", targets, inspectors, RULES)
        return frame, drawing.frame_hash(frame)

    (frame, fh), wall, cpu = timed(build_and_hash, args.runs)
    report("build + validate + hash the frame", wall, cpu)
    size = len(drawing.canonical_json(frame))
    print(f"{'':<34} canonical frame {size / 1e6:.1f} MB, frame_hash {fh[:16]}...")

    secret = bytes(range(32))  # fixed, so that every run draws the same
    beacon_spec = {"source": "bench", "description": "a fixed beacon value"}
    beacon_value = "2026-11-26 bench"

    def draw():
        return drawing.run(frame, drawing.seed("17", fh, beacon_value, secret))

    result, wall, cpu = timed(draw, args.runs)
    report("draw (commit-reveal)", wall, cpu)
    picked = len(result["targets"])
    infeasible = sum(1 for t in result["targets"] if t["infeasible"])
    key_picked = result["quotas"].get("key", 0)
    print(
        f"{'':<34} {picked} targets picked ({key_picked} key), {infeasible} infeasible, "
        f"{2 * (picked - infeasible)} assignments, distribution ok: {result['ok']}"
    )

    proof = drawing.commit_reveal_proof(
        frame, secret=secret, beacon_spec=beacon_spec, beacon_value=beacon_value, result=result
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "proof.json"
        path.write_text(json.dumps(proof, ensure_ascii=False), encoding="utf-8")
        print(f"{'':<34} proof file {path.stat().st_size / 1e6:.1f} MB")
        differences, wall, cpu = timed(lambda: verify(load_proof(path)), args.runs)
    report("verify the proof (file to verdict)", wall, cpu)
    print(f"{'':<34} {'VERIFIED' if not differences else 'NOT VERIFIED'}")

    key = rfc3797.key_from_sources([[9319], [2, 5, 12, 8, 10], [9, 18, 26, 34, 41, 45]])
    rfc_result, wall, cpu = timed(lambda: drawing.run_rfc3797(frame, key), args.runs)
    report("draw (RFC 3797 mode)", wall, cpu)
    infeasible = sum(1 for t in rfc_result["targets"] if t["infeasible"])
    print(f"{'':<34} {len(rfc_result['targets'])} targets picked, {infeasible} infeasible")


if __name__ == "__main__":
    main()
