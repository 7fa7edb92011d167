"""Tests of the verifiable draw and its stand-alone verifier (server/tools/), with the
shared example: the worked example of docs/draw-algorithm.md, and random frames."""

import copy

from server.tools import drawing

RECUSAL_ALL = {name: True for name in drawing.RECUSAL_RULES}

# The worked example of docs/draw-algorithm.md (keep the two identical).
EXAMPLE_FRAME = {
    "version": "draw-v1",
    "draw_id": "17",
    "kind": "visit",
    "targets": [
        {"id": "0a1b2c3d4e5f6071", "stratum": "340421", "key": False,
         "village": "340421100201", "unit": "5"},
        {"id": "1b2c3d4e5f607182", "stratum": "340421", "key": True,
         "village": "340421100202", "unit": "6"},
        {"id": "2c3d4e5f60718293", "stratum": "340421", "key": False,
         "village": "340421101201", "unit": "5"},
        {"id": "3d4e5f60718293a4", "stratum": "340422", "key": False,
         "village": "340422100201", "unit": "7"},
        {"id": "4e5f60718293a4b5", "stratum": "340422", "key": False,
         "village": "340422100203", "unit": "7"},
        {"id": "5f60718293a4b5c6", "stratum": "340422", "key": True,
         "village": "340422102201", "unit": None},
        {"id": "60718293a4b5c6d7", "stratum": "340421", "key": False,
         "village": "340421100201", "unit": "6"},
    ],
    "inspectors": [
        {"id": "a000000000000001", "unit": "5", "home": ["340421000000"],
         "recent_villages": [], "related": []},
        {"id": "a000000000000002", "unit": "6", "home": ["340422100000"],
         "recent_villages": ["340421100201"], "related": ["3d4e5f60718293a4"]},
        {"id": "a000000000000003", "unit": None, "home": [],
         "recent_villages": [], "related": []},
        {"id": "a000000000000004", "unit": "7", "home": ["340421101000"],
         "recent_villages": [], "related": []},
        {"id": "a000000000000005", "unit": "8", "home": [],
         "recent_villages": ["340422102201"], "related": ["0a1b2c3d4e5f6071"]},
    ],
    "rules": {"count": "3", "ratio": None, "key_ratio": "0.5", "min_per_stratum": "1",
              "team_size": "2", "load_cap": "2", **RECUSAL_ALL},
}  # fmt: skip
EXAMPLE_SECRET = bytes(range(32))
EXAMPLE_BEACON_SPEC = {"source": "中国福利彩票 3D", "draw": "2026-12-01"}
EXAMPLE_BEACON_VALUE = "4 7 1"
RFC_SOURCES = [[9319], [2, 5, 12, 8, 10], [9, 18, 26, 34, 41, 45]]
RFC_KEY = "9319./2.5.8.10.12./9.18.26.34.41.45./"


def example_frame():
    return copy.deepcopy(EXAMPLE_FRAME)


def example_proof():
    return drawing.commit_reveal_proof(
        example_frame(),
        secret=EXAMPLE_SECRET,
        beacon_spec=copy.deepcopy(EXAMPLE_BEACON_SPEC),
        beacon_value=EXAMPLE_BEACON_VALUE,
    )


def example_rfc_proof():
    return drawing.rfc3797_proof(
        example_frame(), sources=copy.deepcopy(RFC_SOURCES), beacon_spec={"source": "RFC 3797"}
    )


def random_frame(rng, kind="visit", draw_id=None):
    """A small random frame with many collisions (few units, villages and homes), so
    that every recusal rule and the load cap often bite."""
    counties = [f"3404{c:02d}" for c in range(1, rng.randint(1, 4) + 1)]
    townships = [f"{c}{t}" for c in counties for t in ("100", "101")]
    villages = [f"{t}{v}" for t in townships for v in ("201", "202", "203")]
    units = [1, 2, 3, 4]
    n_targets, n_inspectors = rng.randint(3, 40), rng.randint(2, 20)
    ids = sorted({f"{rng.getrandbits(64):016x}" for _ in range(n_targets + n_inspectors)})
    rng.shuffle(ids)
    n_targets = min(n_targets, len(ids) - 2)
    targets = []
    for tid in ids[:n_targets]:
        village = rng.choice(villages)
        targets.append(
            {
                "id": tid,
                "stratum": village[:6],
                "key": rng.random() < 0.2,
                "village": village,
                "unit": rng.choice(units + [None]),
            }
        )
    homes = [c + "000000" for c in counties] + [t + "000" for t in townships] + villages
    inspectors = [
        {
            "id": iid,
            "unit": rng.choice(units + [None]),
            "home": rng.sample(homes, rng.randint(0, 2)),
            "recent_villages": rng.sample(villages, rng.randint(0, 2)),
            "related": rng.sample([t["id"] for t in targets], rng.randint(0, 2)),
        }
        for iid in ids[n_targets:]
    ]
    rules = {name: rng.random() < 0.8 for name in drawing.RECUSAL_RULES}
    if rng.random() < 0.5:
        rules["count"] = rng.randint(0, n_targets)
    else:
        rules["ratio"] = rng.choice(["0.03", "0.1", "0.25", "0.5", "1"])
    if rng.random() < 0.5:
        rules["key_ratio"] = rng.choice(["0", "0.2", "0.5", "1"])
    rules["min_per_stratum"] = rng.randint(0, 2)
    rules["load_cap"] = rng.randint(1, 3)
    rules["team_size"] = rng.randint(2, 3) if kind == "visit" else 0
    draw_id = str(rng.randint(1, 10**6)) if draw_id is None else draw_id
    return drawing.build_frame(draw_id, kind, targets, inspectors, rules)
