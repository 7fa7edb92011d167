"""The verifiable draw ("double random": random targets, random inspectors).

Standard library only: the server calls these functions with frames built from its
database, and the stand-alone verifier (`python -m server.tools.verify_draw`) calls the
very same functions with the frame from a proof file. The exact specification, enough to
re-implement the verifier from scratch, is docs/draw-algorithm.md; keep the two in step.

Public functions:
    canonical_json(obj) -> bytes          h(*parts) -> bytes
    validate_frame(frame) -> None         build_frame(...) -> frame (sorted, validated)
    frame_hash(frame) -> hex              commitment(draw_id, frame_hash, secret, spec) -> hex
    seed(draw_id, frame_hash, beacon_value, secret) -> bytes
    region_prefix(code) -> str            recusal_reason(rules, target, inspector) -> str|None
    quota_plan(frame) -> list[dict]       quotas(frame) -> {stratum: int}
    run(frame, seed) -> result            run_rfc3797(frame, key) -> result
    commit_reveal_proof(...) -> proof     rfc3797_proof(...) -> proof
"""

import hashlib
import heapq
import json
import math
import re
import unicodedata
from fractions import Fraction

try:
    from . import rfc3797
except ImportError:  # loaded as a top-level module by verify_draw.py run as a plain script
    import rfc3797

VERSION = "draw-v1"
KINDS = ("visit", "rollcall")
KEY_STRATUM = "key"
RECUSAL_RULES = (
    "recuse_same_unit",
    "recuse_home_region",
    "recuse_recent_villages",
    "recuse_related",
)
INFEASIBLE = "not_enough_eligible_inspectors"
# Why a target is in the key stratum; recorded in frames since they were introduced.
KEY_REASONS = ("found_absent", "leave_days", "open_flag")

_sha256 = hashlib.sha256


class FrameError(ValueError):
    """The frame does not have the shape of docs/draw-algorithm.md; says where."""


# --- Encoding -----------------------------------------------------------------------


def _normalized(obj, path):
    if isinstance(obj, str):
        return unicodedata.normalize("NFC", obj)
    if obj is None or isinstance(obj, bool | int):
        return obj
    if isinstance(obj, float):
        raise ValueError(f"{path}: floats are not allowed (write numbers as decimal strings)")
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: object keys must be strings, got {key!r}")
            nkey = unicodedata.normalize("NFC", key)
            if nkey in out:
                raise ValueError(f"{path}: two keys are equal after NFC normalization: {key!r}")
            out[nkey] = _normalized(value, f"{path}.{key}")
        return out
    if isinstance(obj, list | tuple):
        return [_normalized(v, f"{path}[{n}]") for n, v in enumerate(obj)]
    raise TypeError(f"{path}: {type(obj).__name__} is not allowed in canonical JSON")


def canonical_json(obj):
    """UTF-8 bytes of the canonical JSON of obj: every string (keys and values) NFC
    normalized, keys sorted, no whitespace, non-ASCII characters as themselves. Floats
    raise ValueError (numbers in frames travel as decimal strings)."""
    return json.dumps(
        _normalized(obj, "$"), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")


def _lp(part):
    """One part of h(): 4-byte big-endian length, then the bytes."""
    if isinstance(part, str):
        part = part.encode("utf-8")
    elif not isinstance(part, bytes | bytearray):
        raise TypeError(f"h() takes str and bytes parts, not {type(part).__name__}")
    if len(part) > 0xFFFFFFFF:
        raise ValueError("h() part longer than 2**32 - 1 bytes")
    return len(part).to_bytes(4, "big") + bytes(part)


def h(*parts):
    """SHA-256 over the parts, each preceded by its length (4 bytes, big-endian), so
    that h("1", "23") != h("12", "3"). str parts are UTF-8 encoded; ints are refused."""
    return _sha256(b"".join(_lp(p) for p in parts)).digest()


def frame_hash(frame):
    return _sha256(canonical_json(frame)).hexdigest()


def commitment(draw_id, frame_hash_hex, secret, beacon_spec):
    """Published before the beacon value is known: binds draw, frame, secret and beacon."""
    return h(
        b"commit-v1",
        draw_id,
        frame_hash_hex,
        _sha256(secret).hexdigest(),
        canonical_json(beacon_spec),
    ).hex()


def seed(draw_id, frame_hash_hex, beacon_value, secret):
    return h(VERSION.encode(), draw_id, frame_hash_hex, beacon_value, secret)


# --- Frame validation ---------------------------------------------------------------

_HEX16 = re.compile(r"[0-9a-f]{16}")
_COUNTY = re.compile(r"[0-9]{6}")
_CODE12 = re.compile(r"[0-9]{12}")
_UINT = re.compile(r"0|[1-9][0-9]*")
_DECIMAL = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?")

_FRAME_KEYS = {"version", "draw_id", "kind", "targets", "inspectors", "rules"}
_TARGET_KEYS = {"id", "stratum", "key", "village", "unit"}
# Optional, so that frames frozen before they existed still validate.
_TARGET_OPTIONAL = {"key_reasons"}
_RULE_OPTIONAL = {"key_leave_days"}
_INSPECTOR_KEYS = {"id", "unit", "home", "recent_villages", "related"}
_RULE_KEYS = {
    "count",
    "ratio",
    "key_ratio",
    "min_per_stratum",
    "team_size",
    "load_cap",
    *RECUSAL_RULES,
}


def _fail(path, message):
    raise FrameError(f"{path}: {message}")


def _object(value, path, keys, optional=frozenset()):
    if not isinstance(value, dict):
        _fail(path, f"expected an object, got {type(value).__name__}")
    missing = sorted(keys - value.keys())
    if missing:
        _fail(path, f"missing field(s) {', '.join(missing)}")
    extra = sorted(value.keys() - keys - optional)
    if extra:
        _fail(path, f"unknown field(s) {', '.join(map(str, extra))}")


def _match(value, pattern, path, what):
    if not isinstance(value, str) or not pattern.fullmatch(value):
        _fail(path, f"expected {what}, got {value!r}")
    return value


def _uint(value, path):
    return int(_match(value, _UINT, path, "a non-negative integer as a decimal string"))


def _ratio(value, path):
    _match(value, _DECIMAL, path, 'a decimal string such as "0.03"')
    ratio = Fraction(value)
    if ratio > 1:
        _fail(path, f"a ratio must be between 0 and 1, got {value!r}")
    return ratio


def _code12(value, path):
    _match(value, _CODE12, path, "a 12-digit region code")
    if value[:2] == "00":
        _fail(path, f"not a region code (province 00): {value!r}")
    return value


def _sorted_list(value, path, check):
    if not isinstance(value, list):
        _fail(path, f"expected a list, got {type(value).__name__}")
    for n, item in enumerate(value):
        check(item, f"{path}[{n}]")
    for n in range(1, len(value)):
        if not value[n - 1] < value[n]:
            _fail(path, f"must be sorted ascending without duplicates (at index {n})")


def _unit(value, path):
    if value is not None:
        _match(value, _UINT, path, "a unit id as a decimal string, or null")


def validate_frame(frame):
    """Raise FrameError (a ValueError) naming the first field that does not fit."""
    _object(frame, "frame", _FRAME_KEYS)
    if frame["version"] != VERSION:
        _fail("frame.version", f"expected {VERSION!r}, got {frame['version']!r}")
    _uint(frame["draw_id"], "frame.draw_id")
    if frame["kind"] not in KINDS:
        _fail("frame.kind", f"expected one of {', '.join(KINDS)}, got {frame['kind']!r}")

    rules = frame["rules"]
    _object(rules, "frame.rules", _RULE_KEYS, _RULE_OPTIONAL)
    if (rules["count"] is None) == (rules["ratio"] is None):
        _fail("frame.rules", "give exactly one of count and ratio")
    if rules["count"] is not None:
        _uint(rules["count"], "frame.rules.count")
    if rules["ratio"] is not None:
        _ratio(rules["ratio"], "frame.rules.ratio")
    if rules["key_ratio"] is not None:
        _ratio(rules["key_ratio"], "frame.rules.key_ratio")
    _uint(rules["min_per_stratum"], "frame.rules.min_per_stratum")
    team_size = _uint(rules["team_size"], "frame.rules.team_size")
    if frame["kind"] == "visit" and team_size < 2:
        _fail("frame.rules.team_size", f"a visit needs at least 2 inspectors, got {team_size}")
    if frame["kind"] == "rollcall" and team_size != 0:
        _fail("frame.rules.team_size", 'a rollcall assigns no inspectors: must be "0"')
    _uint(rules["load_cap"], "frame.rules.load_cap")
    if rules.get("key_leave_days") is not None:
        _uint(rules["key_leave_days"], "frame.rules.key_leave_days")
    for name in RECUSAL_RULES:
        if not isinstance(rules[name], bool):
            _fail(f"frame.rules.{name}", f"expected true or false, got {rules[name]!r}")

    targets = frame["targets"]
    if not isinstance(targets, list):
        _fail("frame.targets", "expected a list")
    previous = None
    for n, t in enumerate(targets):
        path = f"frame.targets[{n}]"
        _object(t, path, _TARGET_KEYS, _TARGET_OPTIONAL)
        _match(t["id"], _HEX16, f"{path}.id", "a pseudonym of 16 lowercase hex digits")
        _match(t["stratum"], _COUNTY, f"{path}.stratum", "a 6-digit county code")
        if not isinstance(t["key"], bool):
            _fail(f"{path}.key", f"expected true or false, got {t['key']!r}")
        if "key_reasons" in t:
            _key_reasons(t, rules, path)
        _code12(t["village"], f"{path}.village")
        _unit(t["unit"], f"{path}.unit")
        if previous is not None and not previous < t["id"]:
            _fail(f"{path}.id", "targets must be sorted by id without duplicates")
        previous = t["id"]

    inspectors = frame["inspectors"]
    if not isinstance(inspectors, list):
        _fail("frame.inspectors", "expected a list")
    previous = None
    for n, i in enumerate(inspectors):
        path = f"frame.inspectors[{n}]"
        _object(i, path, _INSPECTOR_KEYS)
        _match(i["id"], _HEX16, f"{path}.id", "a pseudonym of 16 lowercase hex digits")
        _unit(i["unit"], f"{path}.unit")
        _sorted_list(i["home"], f"{path}.home", _code12)
        _sorted_list(i["recent_villages"], f"{path}.recent_villages", _code12)
        _sorted_list(
            i["related"],
            f"{path}.related",
            lambda v, p: _match(v, _HEX16, p, "a target pseudonym of 16 lowercase hex digits"),
        )
        if previous is not None and not previous < i["id"]:
            _fail(f"{path}.id", "inspectors must be sorted by id without duplicates")
        previous = i["id"]


def _key_reasons(target, rules, path):
    """The reasons explain the key flag: some reason exactly when it is true."""
    reasons = target["key_reasons"]
    _sorted_list(reasons, f"{path}.key_reasons", _key_reason)
    if target["key"] != bool(reasons):
        _fail(f"{path}.key_reasons", f"must be non-empty exactly when key is true, got {reasons}")
    if "leave_days" in reasons and rules.get("key_leave_days") is None:
        _fail(f"{path}.key_reasons", "leave_days needs rules.key_leave_days")


def _key_reason(value, path):
    if value not in KEY_REASONS:
        _fail(path, f"expected one of {', '.join(KEY_REASONS)}, got {value!r}")


def _as_str(value):
    return None if value is None else str(value)


def build_frame(draw_id, kind, targets, inspectors, rules):
    """A valid frame from plain data: integers become decimal strings, targets and
    inspectors are sorted by id, and the inspectors' lists sorted and de-duplicated.
    `rules` may omit min_per_stratum ("1"), team_size ("2" for a visit, "0" for a
    roll-call), load_cap ("3"), key_ratio (null), count/ratio (null) and the recusal
    flags (all true). Raises FrameError if the result is not valid."""
    r = {
        "count": None,
        "ratio": None,
        "key_ratio": None,
        "min_per_stratum": "1",
        "team_size": "2" if kind == "visit" else "0",
        "load_cap": "3",
        **{name: True for name in RECUSAL_RULES},
    }
    r.update(rules)
    for name in ("count", "min_per_stratum", "team_size", "load_cap"):
        r[name] = _as_str(r[name])
    frame = {
        "version": VERSION,
        "draw_id": str(draw_id),
        "kind": kind,
        "targets": sorted(
            (
                {
                    "id": t["id"],
                    "stratum": t["stratum"],
                    "key": bool(t.get("key", False)),
                    "village": t["village"],
                    "unit": _as_str(t.get("unit")),
                }
                for t in targets
            ),
            key=lambda t: t["id"],
        ),
        "inspectors": sorted(
            (
                {
                    "id": i["id"],
                    "unit": _as_str(i.get("unit")),
                    "home": sorted(set(i.get("home", ()))),
                    "recent_villages": sorted(set(i.get("recent_villages", ()))),
                    "related": sorted(set(i.get("related", ()))),
                }
                for i in inspectors
            ),
            key=lambda i: i["id"],
        ),
        "rules": r,
    }
    validate_frame(frame)
    return frame


# --- Recusal ------------------------------------------------------------------------


def region_prefix(code):
    """A 12-digit region code without its trailing zero groups (province 2 digits, city
    4, county 6, township 9, village 12): the prefix every code in its subtree starts
    with. 340421100000 -> 340421100, 340400000000 -> 3404."""
    if code[9:12] != "000":
        return code
    if code[6:9] != "000":
        return code[:9]
    if code[4:6] != "00":
        return code[:6]
    if code[2:4] != "00":
        return code[:4]
    return code[:2]


_PREFIX_LENGTHS = (2, 4, 6, 9, 12)


def recusal_reason(rules, target, inspector):
    """Why `inspector` may not inspect `target` under `rules`, or None. The reference
    definition; run() uses an index (_Recusal) that must agree with it."""
    if (
        rules["recuse_same_unit"]
        and target["unit"] is not None
        and inspector["unit"] is not None
        and target["unit"] == inspector["unit"]
    ):
        return "same_unit"
    if rules["recuse_home_region"] and any(
        target["village"].startswith(region_prefix(code)) for code in inspector["home"]
    ):
        return "home_region"
    if rules["recuse_recent_villages"] and target["village"] in inspector["recent_villages"]:
        return "recent_village"
    if rules["recuse_related"] and target["id"] in inspector["related"]:
        return "related"
    return None


class _Recusal:
    """Inverted indexes so that the inspectors recused for a target are found with a
    few dictionary look-ups instead of a scan of every inspector."""

    def __init__(self, frame):
        rules = frame["rules"]
        self.by_unit, self.by_prefix, self.by_village, self.by_related = {}, {}, {}, {}
        for n, i in enumerate(frame["inspectors"]):
            if rules["recuse_same_unit"] and i["unit"] is not None:
                self.by_unit.setdefault(i["unit"], []).append(n)
            if rules["recuse_home_region"]:
                for code in i["home"]:
                    self.by_prefix.setdefault(region_prefix(code), []).append(n)
            if rules["recuse_recent_villages"]:
                for village in i["recent_villages"]:
                    self.by_village.setdefault(village, []).append(n)
            if rules["recuse_related"]:
                for target_id in i["related"]:
                    self.by_related.setdefault(target_id, []).append(n)

    def recused(self, target):
        """Indexes (into frame["inspectors"]) of the inspectors recused for target."""
        out = set()
        if target["unit"] is not None:
            out.update(self.by_unit.get(target["unit"], ()))
        village = target["village"]
        for length in _PREFIX_LENGTHS:
            out.update(self.by_prefix.get(village[:length], ()))
        out.update(self.by_village.get(village, ()))
        out.update(self.by_related.get(target["id"], ()))
        return out


# --- Quotas and the distribution check ----------------------------------------------


def _strata(frame):
    """Stratum name -> its targets (sorted by id). With a key_ratio, key targets form
    the stratum "key" and leave their county strata."""
    use_key = frame["rules"]["key_ratio"] is not None
    strata = {}
    for t in frame["targets"]:
        name = KEY_STRATUM if use_key and t["key"] else t["stratum"]
        strata.setdefault(name, []).append(t)
    return strata


def quota_plan(frame):
    """Per stratum (sorted by name): candidates, the exact proportional share
    ("expected", a Fraction), the quota and whether min_per_stratum raised it."""
    rules = frame["rules"]
    strata = _strata(frame)
    plan = {}
    if KEY_STRATUM in strata:
        size = len(strata[KEY_STRATUM])
        share = Fraction(rules["key_ratio"]) * size
        plan[KEY_STRATUM] = (size, share, math.ceil(share), False)
    counties = {name: len(ts) for name, ts in strata.items() if name != KEY_STRATUM}
    total = sum(counties.values())
    if total:
        if rules["count"] is not None:
            n = int(rules["count"])
        else:
            n = math.ceil(Fraction(rules["ratio"]) * total)
        n = min(n, total)
        shares = {name: Fraction(n * size, total) for name, size in counties.items()}
        base = {name: math.floor(share) for name, share in shares.items()}
        left = n - sum(base.values())
        by_remainder = sorted(shares, key=lambda name: (-(shares[name] - base[name]), name))
        for name in by_remainder[:left]:
            base[name] += 1
        minimum = int(rules["min_per_stratum"])
        for name, size in counties.items():
            quota = max(base[name], min(minimum, size))
            plan[name] = (size, shares[name], quota, quota > base[name])
    return [
        {"stratum": name, "candidates": c, "expected": e, "quota": q, "raised_by_minimum": r}
        for name, (c, e, q, r) in sorted(plan.items())
    ]


def quotas(frame):
    """Stratum -> number of targets to draw in it."""
    validate_frame(frame)
    return {p["stratum"]: p["quota"] for p in quota_plan(frame)}


def _decimal4(fraction):
    """A non-negative Fraction as a decimal string with 4 places, rounded half up."""
    units = (fraction.numerator * 20000 + fraction.denominator) // (2 * fraction.denominator)
    return f"{units // 10000}.{units % 10000:04d}"


def _distribution(plan, chosen):
    picked = {}
    for t in chosen:
        picked[t["stratum"]] = picked.get(t["stratum"], 0) + 1
    rows, ok = [], True
    for p in plan:
        got = picked.get(p["stratum"], 0)
        ok = ok and got == p["quota"] and (p["raised_by_minimum"] or abs(got - p["expected"]) <= 1)
        rows.append(
            {
                "stratum": p["stratum"],
                "candidates": p["candidates"],
                "expected": _decimal4(p["expected"]),
                "quota": p["quota"],
                "picked": got,
                "raised_by_minimum": p["raised_by_minimum"],
            }
        )
    # Nothing may be picked outside the planned strata either.
    ok = ok and set(picked) <= {p["stratum"] for p in plan}
    return rows, ok


def _result(plan, chosen, teams):
    """chosen: [(target, stratum)] in final order; teams: per target (ids, infeasible)."""
    targets = [
        {
            "id": t["id"],
            "stratum": stratum,
            "rank": rank,
            "inspectors": ids,
            "infeasible": infeasible,
        }
        for rank, ((t, stratum), (ids, infeasible)) in enumerate(
            zip(chosen, teams, strict=True), start=1
        )
    ]
    distribution, ok = _distribution(plan, targets)
    return {
        "targets": targets,
        "quotas": {p["stratum"]: p["quota"] for p in plan},
        "distribution": distribution,
        "ok": ok,
    }


# --- The draw -----------------------------------------------------------------------


def challenge_offset(seed_bytes, target_id, span_seconds):
    """Roll-calls: seconds after the window opens at which `target_id`'s challenge is
    issued. Unknowable before the beacon, recomputable by anyone after (docs, section 7a).
    """
    if span_seconds <= 0:
        return 0
    value = int.from_bytes(h(seed_bytes, b"C", target_id)[:8], "big")
    return value % span_seconds


def run(frame, seed_bytes):
    """The commit-reveal draw: targets and teams from the seed (see the docs)."""
    validate_frame(frame)
    if not isinstance(seed_bytes, bytes | bytearray):
        raise TypeError("the seed must be bytes")
    plan = quota_plan(frame)
    strata = _strata(frame)
    seed_part = _lp(seed_bytes)

    tickets = []  # (ticket, target id, target, stratum)
    for p in plan:
        name = p["stratum"]
        prefix = seed_part + _lp(b"T") + _lp(name)
        ranked = [(_sha256(prefix + _lp(t["id"])).digest(), t["id"], t) for t in strata[name]]
        tickets.extend(
            (ticket, tid, t, name)
            for ticket, tid, t in heapq.nsmallest(p["quota"], ranked, key=lambda x: (x[0], x[1]))
        )
    tickets.sort(key=lambda x: (x[0], x[1]))  # key order
    chosen = [(t, name) for _, _, t, name in tickets]

    def by_hash(target, eligible, team_size):
        prefix = seed_part + _lp(b"I") + _lp(target["id"])
        # The common prefix is short (one SHA-256 block together with the suffix), so
        # hashing the concatenation is as fast as copying a pre-fed hash object.
        ranked = [(_sha256(prefix + suffixes[n]).digest(), ids[n], n) for n in eligible]
        return [n for _, _, n in heapq.nsmallest(team_size, ranked)]

    ids = [i["id"] for i in frame["inspectors"]]
    suffixes = [_lp(i) for i in ids]
    return _result(plan, chosen, _assign(frame, chosen, by_hash))


def _assign(frame, chosen, pick):
    """Teams for the chosen targets, in order: the eligible inspectors of a target are
    those not recused for it whose load is under the cap (as indexes in id order);
    pick(target, eligible, team_size) returns the team. Too few eligible: infeasible,
    recorded, and no load consumed."""
    rules = frame["rules"]
    team_size = int(rules["team_size"])
    if frame["kind"] == "rollcall" or team_size == 0:
        return [([], None) for _ in chosen]
    load_cap = int(rules["load_cap"])
    inspectors = frame["inspectors"]
    recusal = _Recusal(frame)
    loads = [0] * len(inspectors)
    # Inspectors under their load cap, in id order (a dict keeps insertion order).
    available = dict.fromkeys(range(len(inspectors))) if load_cap > 0 else {}
    teams = []
    for target, _ in chosen:
        recused = recusal.recused(target)
        eligible = [n for n in available if n not in recused]
        if len(eligible) < team_size:
            infeasible = {"reason": INFEASIBLE, "eligible": len(eligible), "needed": team_size}
            teams.append(([], infeasible))
            continue
        team = pick(target, eligible, team_size)
        for n in team:
            loads[n] += 1
            if loads[n] >= load_cap:
                del available[n]
        teams.append(([inspectors[n]["id"] for n in team], None))
    return teams


def run_rfc3797(frame, key):
    """The RFC 3797 draw: everything from the public key string (see the docs)."""
    validate_frame(frame)
    if not isinstance(key, str) or not key:
        raise ValueError("the RFC 3797 key must be a non-empty string")
    plan = quota_plan(frame)
    strata = _strata(frame)
    j = 0  # one j sequence for the whole draw: targets, then inspectors
    chosen = []
    for p in plan:  # sorted by stratum name
        candidates = strata[p["stratum"]]  # sorted by id
        for position in rfc3797.select(key, len(candidates), p["quota"], first_j=j):
            chosen.append((candidates[position - 1], p["stratum"]))
        j += p["quota"]

    def by_rfc3797(target, eligible, team_size):
        nonlocal j
        positions = rfc3797.select(key, len(eligible), team_size, first_j=j)
        j += team_size
        return [eligible[position - 1] for position in positions]

    return _result(plan, chosen, _assign(frame, chosen, by_rfc3797))


# --- Proofs -------------------------------------------------------------------------


def commit_reveal_proof(frame, *, secret, beacon_spec, beacon_value, result=None):
    """The proof of a commit-reveal draw (result computed if not given)."""
    fh = frame_hash(frame)
    draw_id = frame["draw_id"]
    if result is None:
        result = run(frame, seed(draw_id, fh, beacon_value, secret))
    return {
        "draw_id": draw_id,
        "mode": "commit-reveal",
        "frame": frame,
        "frame_hash": fh,
        "commitment": commitment(draw_id, fh, secret, beacon_spec),
        "secret": secret.hex(),
        "beacon_spec": beacon_spec,
        "beacon_value": beacon_value,
        "result": result,
    }


def rfc3797_proof(frame, *, sources, beacon_spec, result=None):
    """The proof of an RFC 3797 draw (result computed if not given)."""
    if result is None:
        result = run_rfc3797(frame, rfc3797.key_from_sources(sources))
    return {
        "draw_id": frame["draw_id"],
        "mode": "rfc3797",
        "frame": frame,
        "frame_hash": frame_hash(frame),
        "beacon_spec": beacon_spec,
        "rfc3797_sources": sources,
        "result": result,
    }
