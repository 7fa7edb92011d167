"""The stand-alone verifier: VERIFIED on a valid proof, NOT VERIFIED naming what differs
on a tampered one, exit codes, and runs in a subprocess (also without site-packages)."""

import copy
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from server.tools import drawing
from server.tools.verify_draw import ProofError, main, verify
from tests.tools import example_proof, example_rfc_proof, random_frame

ROOT = Path(__file__).resolve().parents[2]


def test_a_valid_proof_verifies():
    assert verify(example_proof()) == []


def test_a_valid_rfc3797_proof_verifies():
    assert verify(example_rfc_proof()) == []


def test_random_draws_verify_in_both_modes():
    for n in range(40):
        rng = random.Random(n)
        frame = random_frame(rng, kind=rng.choice(["visit", "rollcall"]))
        proof = drawing.commit_reveal_proof(
            frame,
            secret=rng.randbytes(32),
            beacon_spec={"source": "test", "n": n},
            beacon_value=str(rng.randint(0, 999)),
        )
        # What a server would publish has been through JSON.
        assert verify(json.loads(json.dumps(proof))) == []
        sources = [[rng.randint(0, 99) for _ in range(3)], [rng.randint(1, 9999)]]
        proof = drawing.rfc3797_proof(frame, sources=sources, beacon_spec={"n": n})
        assert verify(json.loads(json.dumps(proof))) == []


def test_a_tampered_team_is_named():
    proof = example_proof()
    stated = proof["result"]["targets"][2]["inspectors"]
    proof["result"]["targets"][2]["inspectors"] = ["a000000000000001", "a000000000000003"]
    assert verify(proof) == [
        f"target 3: inspectors differ: expected {json.dumps(stated)}, "
        'proof says ["a000000000000001", "a000000000000003"]'
    ]


def test_tampered_targets_and_distribution_are_named():
    proof = example_proof()
    proof["result"]["targets"][0]["id"] = "1b2c3d4e5f607182"
    proof["result"]["targets"][1]["infeasible"] = {"reason": "x"}
    del proof["result"]["targets"][3]
    proof["result"]["distribution"][0]["picked"] = 5
    proof["result"]["quotas"]["340421"] = 9
    proof["result"]["ok"] = False
    assert verify(proof) == [
        "distribution of stratum 340421: picked differs: expected 2, proof says 5",
        "result: ok differs: expected true, proof says false",
        "quotas: 340421 differs: expected 2, proof says 9",
        "number of targets differs: expected 4, proof says 3",
        'target 1: id differs: expected "5f60718293a4b5c6", proof says "1b2c3d4e5f607182"',
        'target 2: infeasible differs: expected null, proof says {"reason": "x"}',
    ]


def test_a_tampered_frame_breaks_the_frame_hash_and_the_commitment():
    proof = example_proof()
    proof["frame"]["targets"][3]["village"] = "340422100202"
    differences = verify(proof)
    assert differences[0].startswith("frame_hash differs: expected ")
    assert differences[1].startswith("commitment differs: expected ")


def test_a_frame_hash_stated_wrong_is_named():
    proof = example_proof()
    proof["frame_hash"] = "0" * 64
    assert verify(proof) == [
        f'frame_hash differs: expected "{example_proof()["frame_hash"]}", proof says "{"0" * 64}"'
    ]


def test_a_tampered_secret_breaks_the_commitment_and_the_result():
    proof = example_proof()
    proof["secret"] = proof["secret"][:-1] + ("0" if proof["secret"][-1] != "0" else "1")
    differences = verify(proof)
    assert differences[0].startswith("commitment differs")
    assert any(d.startswith("target ") for d in differences)


def test_a_tampered_beacon_value_changes_the_result():
    proof = example_proof()
    proof["beacon_value"] = "4 7 2"
    differences = verify(proof)
    assert not any(d.startswith("commitment") for d in differences)  # the spec is committed
    assert any(d.startswith("target ") for d in differences)


def test_a_tampered_beacon_spec_breaks_the_commitment():
    proof = example_proof()
    proof["beacon_spec"]["draw"] = "2026-12-02"
    assert [d.split(":")[0] for d in verify(proof)] == ["commitment differs"]


def test_rfc3797_sources_are_checked():
    proof = example_rfc_proof()
    proof["rfc3797_sources"][1][0] = 3
    assert any(d.startswith("target ") for d in verify(proof))
    proof = example_rfc_proof()
    proof["rfc3797_key"] = "9319./"
    assert verify(proof)[0].startswith("rfc3797_key differs")


def test_draw_id_and_seed_must_match():
    proof = example_proof()
    proof["draw_id"] = "18"
    assert verify(proof) == ["draw_id differs: the frame says '17', proof says '18'"]
    proof = example_proof()
    proof["seed"] = "00" * 32
    assert verify(proof)[0].startswith("seed differs")


def json_leaves(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from json_leaves(v, (*path, k))
    elif isinstance(obj, list):
        for n, v in enumerate(obj):
            yield from json_leaves(v, (*path, n))
    else:
        yield path, obj


def test_changing_any_single_input_character_breaks_verification():
    """Every character of every input (frame, secret, beacon, draw id; not the stated
    outputs) changed in turn: the proof never verifies."""
    proof = example_proof()
    inputs = {k: proof[k] for k in ("draw_id", "frame", "secret", "beacon_spec", "beacon_value")}
    checked = 0
    for path, value in json_leaves(inputs):
        if isinstance(value, bool):
            variants = [not value]
        elif value is None:
            variants = ["1"]
        else:
            variants = [
                value[:n] + ("1" if c != "1" else "2") + value[n + 1 :] for n, c in enumerate(value)
            ]
        for variant in variants:
            tampered = copy.deepcopy(proof)
            node = tampered
            for p in path[:-1]:
                node = node[p]
            node[path[-1]] = variant
            try:
                assert verify(tampered), path
            except ProofError:
                pass  # no longer a valid frame at all: refused, which is also a failure
            checked += 1
    assert checked > 500


# --- The command line -----------------------------------------------------------------


def write(tmp_path, proof, name="proof.json"):
    path = tmp_path / name
    path.write_text(json.dumps(proof, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_main_says_verified(tmp_path, capsys):
    assert main([write(tmp_path, example_proof())]) == 0
    assert capsys.readouterr().out == "VERIFIED\n"
    assert main([write(tmp_path, example_rfc_proof()), "-v"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "VERIFIED"
    assert out[2] == "4 targets, 0 infeasible"


def test_main_says_not_verified_and_why(tmp_path, capsys):
    proof = example_proof()
    proof["result"]["targets"][0]["rank"] = 2
    assert main([write(tmp_path, proof)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "NOT VERIFIED",
        "target 1: rank differs: expected 1, proof says 2",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"a": 1, "a": 2}', "duplicate key"),
        ('{"a": NaN}', "NaN is not valid JSON"),
        ("[]", "a proof is a JSON object"),
        ('{"mode": "guess"}', "mode must be one of"),
        ('{"mode": "rfc3797"}', "missing field 'draw_id'"),
    ],
)
def test_main_refuses_what_is_not_a_proof(tmp_path, capsys, content, message):
    path = tmp_path / "proof.json"
    path.write_text(content, encoding="utf-8")
    assert main([str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("secret", "not hex", "secret must be hexadecimal"),
        ("secret", 5, "secret must be a string"),
        ("result", [], "result must be an object"),
        ("beacon_spec", {"x": 0.5}, "floats are not allowed"),
        ("frame", {"version": "draw-v1"}, "frame: missing field(s)"),
    ],
)
def test_main_refuses_malformed_fields(tmp_path, capsys, field, value, message):
    proof = example_proof()
    proof[field] = value
    assert main([write(tmp_path, proof)]) == 2
    assert message in capsys.readouterr().err


def test_main_refuses_a_missing_file(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def run_cli(args, cwd, env=None):
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_the_module_runs_in_a_subprocess(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    module = [sys.executable, "-m", "server.tools.verify_draw"]
    done = run_cli([*module, write(tmp_path, example_proof())], ROOT, env)
    assert (done.returncode, done.stdout) == (0, "VERIFIED\n"), done.stderr
    proof = example_proof()
    proof["beacon_value"] = "0 0 0"
    done = run_cli([*module, write(tmp_path, proof)], ROOT, env)
    assert done.returncode == 1
    assert done.stdout.startswith("NOT VERIFIED\ntarget 1: ")
    done = run_cli([*module, str(tmp_path / "missing.json")], ROOT, env)
    assert done.returncode == 2 and "cannot read" in done.stderr


def test_the_script_runs_with_the_standard_library_alone(tmp_path):
    """-I -S: no site-packages (so no Flask), no PYTHONPATH, no current directory."""
    script = ROOT / "server" / "tools" / "verify_draw.py"
    isolated = [sys.executable, "-I", "-S", str(script)]
    done = run_cli([*isolated, write(tmp_path, example_rfc_proof())], tmp_path)
    assert (done.returncode, done.stdout) == (0, "VERIFIED\n"), done.stderr
    proof = example_proof()
    proof["frame"]["rules"]["load_cap"] = "3"
    done = run_cli([*isolated, write(tmp_path, proof)], tmp_path)
    assert done.returncode == 1
    assert done.stdout.splitlines()[1].startswith("frame_hash differs")
    done = run_cli([sys.executable, "-I", "-S", "-c", "import flask"], tmp_path)
    assert "No module named 'flask'" in done.stderr  # really without the app's packages
