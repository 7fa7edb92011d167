"""Stand-alone verifier of a draw proof: recomputes everything and names what differs.

    python -m server.tools.verify_draw proof.json [-v]
    python server/tools/verify_draw.py proof.json     # the same, as a plain script

Prints VERIFIED and exits 0, or prints NOT VERIFIED and one line per difference and
exits 1; a file that is not a proof (bad JSON, missing or malformed fields, an invalid
frame) exits 2 with a message on stderr. Standard library only: no database, no app.
The algorithm is specified in docs/draw-algorithm.md.

Run as a plain script it loads drawing.py and rfc3797.py from its own directory, so that
not even the `server` package (which imports Flask) is imported.
"""

import argparse
import importlib
import json
import sys
from pathlib import Path

if __package__:
    from . import drawing, rfc3797
else:  # a plain script: import the sibling modules as top-level modules
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    drawing = importlib.import_module("drawing")
    rfc3797 = importlib.import_module("rfc3797")

MODES = ("commit-reveal", "rfc3797")
_REQUIRED = {
    "commit-reveal": ("commitment", "secret", "beacon_value"),
    "rfc3797": ("rfc3797_sources",),
}
_KNOWN = {
    "draw_id",
    "mode",
    "frame",
    "frame_hash",
    "beacon_spec",
    "result",
    "commitment",
    "secret",
    "beacon_value",
    "rfc3797_sources",
    "seed",  # optional (commit-reveal): checked when present
    "rfc3797_key",  # optional (rfc3797): checked when present
}


class ProofError(ValueError):
    """Not a proof: the file cannot be checked at all."""


def _show(value):
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _differs(where, expected, stated):
    verb = "differ" if where.endswith("s") else "differs"  # "inspectors differ"
    return f"{where} {verb}: expected {_show(expected)}, proof says {_show(stated)}"


def _check_shape(proof):
    if not isinstance(proof, dict):
        raise ProofError("a proof is a JSON object")
    mode = proof.get("mode")
    if mode not in MODES:
        raise ProofError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    for name in ("draw_id", "frame", "frame_hash", "beacon_spec", "result", *_REQUIRED[mode]):
        if name not in proof:
            raise ProofError(f"missing field {name!r} (mode {mode})")
    for name in ("draw_id", "frame_hash"):
        if not isinstance(proof[name], str):
            raise ProofError(f"{name} must be a string")
    if not isinstance(proof["beacon_spec"], dict):
        raise ProofError("beacon_spec must be an object")
    if not isinstance(proof["result"], dict):
        raise ProofError("result must be an object")
    try:
        drawing.validate_frame(proof["frame"])
        drawing.canonical_json(proof["beacon_spec"])
    except (ValueError, TypeError) as error:
        raise ProofError(str(error)) from None
    if mode == "commit-reveal":
        for name in ("commitment", "secret", "beacon_value"):
            if not isinstance(proof[name], str):
                raise ProofError(f"{name} must be a string")
        try:
            secret = bytes.fromhex(proof["secret"])
        except ValueError:
            raise ProofError("secret must be hexadecimal") from None
        if not secret:
            raise ProofError("secret is empty")
        return secret
    try:
        rfc3797.key_from_sources(proof["rfc3797_sources"])
    except ValueError as error:
        raise ProofError(f"rfc3797_sources: {error}") from None
    return None


def _diff(where, expected, stated, out):
    """Differences between two JSON values, with readable places."""
    if isinstance(expected, dict) and isinstance(stated, dict):
        for key in sorted(expected.keys() | stated.keys()):
            place = f"{where}: {key}" if where else key
            if key not in stated:
                out.append(f"{place} is missing from the proof (expected {_show(expected[key])})")
            elif key not in expected:
                out.append(f"{place} is not part of a result (proof says {_show(stated[key])})")
            else:
                _diff(place, expected[key], stated[key], out)
    elif (
        isinstance(expected, list)
        and isinstance(stated, list)
        and any(isinstance(v, dict) for v in expected + stated)
    ):
        if len(expected) != len(stated):
            out.append(
                f"{where}: number of entries differs: expected {len(expected)}, "
                f"proof says {len(stated)}"
            )
        for n, (e, s) in enumerate(zip(expected, stated, strict=False), start=1):
            _diff(f"{where} {n}", e, s, out)
    elif type(expected) is not type(stated) or expected != stated:
        out.append(_differs(where, expected, stated))


def _diff_result(expected, stated):
    out = []
    for key in sorted(expected.keys() | stated.keys()):
        if key not in stated:
            out.append(f"result: {key} is missing from the proof")
        elif key not in expected:
            out.append(f"result: {key} is not part of a result")
        elif key == "targets" and isinstance(stated[key], list):
            e, s = expected[key], stated[key]
            if len(e) != len(s):
                out.append(f"number of targets differs: expected {len(e)}, proof says {len(s)}")
            for n, (et, st) in enumerate(zip(e, s, strict=False), start=1):
                _diff(f"target {n}", et, st, out)
        elif key == "distribution" and isinstance(stated[key], list):
            e, s = expected[key], stated[key]
            if len(e) != len(s):
                out.append(
                    f"distribution: number of strata differs: expected {len(e)}, "
                    f"proof says {len(s)}"
                )
            for et, st in zip(e, s, strict=False):
                name = et.get("stratum")
                _diff(f"distribution of stratum {name}", et, st, out)
        elif key == "quotas" and isinstance(stated[key], dict):
            _diff("quotas", expected[key], stated[key], out)
        else:
            _diff(f"result: {key}", expected[key], stated[key], out)
    return out


def verify(proof):
    """Differences between the proof and a recomputation from its inputs; [] means
    verified. Raises ProofError if `proof` is not a proof at all."""
    secret = _check_shape(proof)
    frame = proof["frame"]
    out = []
    draw_id = proof["draw_id"]
    if frame["draw_id"] != draw_id:
        out.append(f"draw_id differs: the frame says {frame['draw_id']!r}, proof says {draw_id!r}")
    fh = drawing.frame_hash(frame)
    if fh != proof["frame_hash"]:
        out.append(_differs("frame_hash", fh, proof["frame_hash"]))
    # Everything below is derived from the frame as given, never from stated hashes.
    if proof["mode"] == "commit-reveal":
        expected = drawing.commitment(frame["draw_id"], fh, secret, proof["beacon_spec"])
        if expected != proof["commitment"]:
            out.append(_differs("commitment", expected, proof["commitment"]))
        seed = drawing.seed(frame["draw_id"], fh, proof["beacon_value"], secret)
        if "seed" in proof and proof["seed"] != seed.hex():
            out.append(_differs("seed", seed.hex(), proof["seed"]))
        result = drawing.run(frame, seed)
    else:
        key = rfc3797.key_from_sources(proof["rfc3797_sources"])
        if "rfc3797_key" in proof and proof["rfc3797_key"] != key:
            out.append(_differs("rfc3797_key", key, proof["rfc3797_key"]))
        result = drawing.run_rfc3797(frame, key)
    out.extend(_diff_result(result, proof["result"]))
    return out


def _reject_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ProofError(f"duplicate key {key!r} in a JSON object")
        seen[key] = value
    return seen


def _no_constant(name):
    raise ProofError(f"{name} is not valid JSON")


def load_proof(path):
    """The proof in a JSON file; ProofError if it cannot be read or parsed."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as error:
        raise ProofError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ProofError(f"{path} is not UTF-8") from None
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise ProofError(f"{path} is not valid JSON: {error}") from None
    except RecursionError:
        raise ProofError(f"{path} is nested too deeply") from None


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m server.tools.verify_draw",
        description="Recompute a draw from its proof file and say whether it matches.",
    )
    parser.add_argument("proof", help="the proof, a JSON file")
    parser.add_argument("-v", "--verbose", action="store_true", help="print a summary too")
    args = parser.parse_args(argv)
    try:
        proof = load_proof(args.proof)
        differences = verify(proof)
    except ProofError as error:
        print(f"error: not a draw proof: {error}", file=sys.stderr)
        return 2
    if differences:
        print("NOT VERIFIED")
        for line in differences:
            print(line)
        return 1
    print("VERIFIED")
    if args.verbose:
        result = proof["result"]
        infeasible = sum(1 for t in result["targets"] if t["infeasible"])
        print(f"draw {proof['draw_id']} ({proof['mode']}), frame_hash {proof['frame_hash']}")
        print(f"{len(result['targets'])} targets, {infeasible} infeasible")
        print("distribution check: " + ("ok" if result["ok"] else "FAILED"))
    unchecked = sorted(set(proof) - _KNOWN)
    if unchecked:
        print(
            f"note: fields not covered by the verification: {', '.join(unchecked)}", file=sys.stderr
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
