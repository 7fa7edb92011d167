"""The stand-alone bundle verifier: VERIFIED on a bundle the server built, NOT VERIFIED
naming what is wrong on a tampered one (a photo's byte, a record, a removed or added
file, an audit event), --expect-manifest, exit codes, and runs in a subprocess (also
without site-packages). Its audit hash is the server's, computed independently."""

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from server.extensions import db
from server.models import AuditEvent, Checkin
from server.services import audit, bundles
from server.tools import verify_bundle
from server.tools.verify_bundle import BundleError, main, verify
from tests.api.checkin_kit import submit
from tests.api.test_bundles import build_case, download
from tests.services.test_photos import needs_photos

ROOT = Path(__file__).resolve().parents[2]
# Building a case with real photos, a visit and a closed month takes a few seconds; the
# tampering tests only need its bytes, so it is built once per run (and per worker).
_BUILT = {}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def bundle(request, tmp_path):
    """(path of a fresh copy of the bundle, facts about it)."""
    if not _BUILT:
        client, world, make = (request.getfixturevalue(n) for n in ("client", "world", "make"))
        built = build_case(client, world, make)
        first = db.session.get(Checkin, built.checkins[0]).photos[0]
        _BUILT.update(
            data=download(client, make, world.reviewer_a, built.case.id).data,
            checkin=built.checkins[0],
            photo=f"photos/{first.sha256}.jpg",
            leave=built.leave,
            finding=built.finding,
            ledger=f"evidence/ledger_month-{world.posting_a.id}-2026-10-closure{built.closure}.json",
        )
    path = tmp_path / "bundle.zip"
    path.write_bytes(_BUILT["data"])
    return path, _BUILT


def contents(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info.filename) for info in archive.infolist()}


def rezip(path, files):
    """Write `files` (name -> bytes) as the bundle at `path`, in the given order."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def with_manifest(files):
    """What a careful forger does: list the changed files' hashes in the manifest."""
    manifest = json.loads(files["manifest.json"])
    manifest["files"] = [
        {"path": name, "size": len(data), "sha256": sha256(data)}
        for name, data in sorted(files.items())
        if name != "manifest.json"
    ]
    return {**files, "manifest.json": json.dumps(manifest).encode()}


def edit_json(files, name, change):
    document = json.loads(files[name])
    change(document)
    return {**files, name: json.dumps(document, ensure_ascii=False).encode()}


def manifest_line(name, old, new):
    return (
        f"{name}: content differs from the manifest "
        f"(manifest sha256 {sha256(old)}, file has {sha256(new)})"
    )


@needs_photos
def test_a_bundle_the_server_built_verifies(bundle):
    path, facts = bundle
    differences, notes, digest = verify(path)
    assert differences == []
    assert digest == sha256(contents(path)["manifest.json"])
    assert [n for n in notes if not n.startswith("evidence item not included")] == []


@needs_photos
def test_one_flipped_byte_of_a_photo_is_named(bundle):
    path, facts = bundle
    files = contents(path)
    name, old = facts["photo"], files[facts["photo"]]
    middle = len(old) // 2
    new = old[:middle] + bytes([old[middle] ^ 0x01]) + old[middle + 1 :]
    rezip(path, {**files, name: new})
    sha = name.split("/")[1].split(".")[0]
    assert verify(path)[0] == [
        manifest_line(name, old, new),
        f"{name}: content does not match its name (sha256 is {sha256(new)})",
        f"evidence/checkin-{facts['checkin']}.json: cites {name}, whose content is not {sha}",
    ]


@needs_photos
def test_an_edited_record_is_named(bundle):
    path, facts = bundle
    files = contents(path)
    name = f"evidence/leave-{facts['leave']}.json"
    edited = edit_json(files, name, lambda d: d["leave"].update(reason="公务"))
    rezip(path, edited)
    assert verify(path)[0] == [manifest_line(name, files[name], edited[name])]


@needs_photos
def test_a_removed_record_and_a_removed_photo_are_named(bundle):
    path, facts = bundle
    files = contents(path)
    record = f"evidence/finding-{facts['finding']}.json"
    photo = facts["photo"]
    rezip(path, {k: v for k, v in files.items() if k not in (record, photo)})
    assert verify(path)[0] == [
        f"{record}: missing from the bundle (the manifest lists it)",
        f"{photo}: missing from the bundle (the manifest lists it)",
        f"evidence/checkin-{facts['checkin']}.json: cites {photo}, which is not in the bundle",
    ]


@needs_photos
def test_an_added_file_is_named_even_when_listed(bundle):
    path, facts = bundle
    files = contents(path)
    rezip(path, {**files, "evidence/checkin-999.json": b"{}"})
    assert verify(path)[0] == [
        "evidence/checkin-999.json: not listed in the manifest (a file was added)"
    ]
    # Listed in the manifest too: a photo nothing cites is still named.
    extra = b"\xff\xd8\xff planted"
    name = f"photos/{sha256(extra)}.jpg"
    rezip(path, with_manifest({**files, name: extra}))
    assert verify(path)[0] == [f"{name}: not cited by any record"]


def _first(files, action):
    events = json.loads(files["audit.json"])["events"]
    return next(n for n, e in enumerate(events) if e["action"] == action)


@needs_photos
def test_an_edited_audit_event_is_named(bundle):
    path, facts = bundle
    files = contents(path)
    n = _first(files, "checkin.review")
    edited = edit_json(
        files, "audit.json", lambda d: d["events"][n]["summary"].update(decision="accepted")
    )
    seq = json.loads(files["audit.json"])["events"][n]["seq"]
    rezip(path, edited)
    assert verify(path)[0] == [
        manifest_line("audit.json", files["audit.json"], edited["audit.json"]),
        f"audit event {seq} (checkin.review): hash does not match its content",
    ]
    # With the manifest made to match, the chain still names it.
    rezip(path, with_manifest(edited))
    assert verify(path)[0] == [
        f"audit event {seq} (checkin.review): hash does not match its content"
    ]


@needs_photos
def test_a_rehashed_audit_event_breaks_the_link_to_the_next(bundle):
    """finding.sign and finding.final are written in one transaction: consecutive."""
    path, facts = bundle
    files = contents(path)
    n = _first(files, "finding.final") - 1

    def forge(document):
        event = document["events"][n]
        assert event["action"] == "finding.sign"
        assert document["events"][n + 1]["seq"] == event["seq"] + 1
        event["summary"]["inspector_id"] = 1
        event["hash"] = verify_bundle.event_hash(event)

    edited = with_manifest(edit_json(files, "audit.json", forge))
    seq = json.loads(edited["audit.json"])["events"][n]["seq"]
    rezip(path, edited)
    assert verify(path)[0] == [
        f"audit event {seq + 1} (finding.final): prev_hash does not match the hash of event {seq}"
    ]


@needs_photos
def test_a_photo_swapped_consistently_is_caught_by_the_audited_submission(bundle):
    """Replaced, renamed, cited and listed anew: only the audit chain still knows."""
    path, facts = bundle
    files = contents(path)
    old_name = facts["photo"]
    old_sha = old_name.split("/")[1].split(".")[0]
    new = files[old_name] + b"\x00"
    new_name = f"photos/{sha256(new)}.jpg"
    record = f"evidence/checkin-{facts['checkin']}.json"

    def swap(document):
        document["photos"][0].update(sha256=sha256(new), file=new_name)

    forged = edit_json({k: v for k, v in files.items() if k != old_name}, record, swap)
    rezip(path, with_manifest({**forged, new_name: new}))
    assert verify(path)[0] == [
        f"{record}: photo {sha256(new)} is not in the audited submission",
        f"{record}: photo {old_sha} of the audited submission is not listed",
    ]


def _submission_seq(files, checkin_id):
    events = json.loads(files["audit.json"])["events"]
    (seq,) = [
        e["seq"]
        for e in events
        if e["action"] == "checkin.submit" and e["object_id"] == str(checkin_id)
    ]
    return seq


@needs_photos
@pytest.mark.parametrize(
    "edit, line",
    [
        ({"latitude": 32.7193}, "position differs from the one sealed in audit event {seq}"),
        ({"accuracy_m": 5.0}, "position differs from the one sealed in audit event {seq}"),
        (
            {"captured_at": "2026-10-05T00:30:00+00:00"},
            "sealed columns (times, device, note, ids, kind) differ from those sealed in"
            " audit event {seq}",
        ),
        (
            {"device_id": "phone-of-a-colleague"},
            "sealed columns (times, device, note, ids, kind) differ from those sealed in"
            " audit event {seq}",
        ),
    ],
)
def test_a_check_in_edited_consistently_is_caught_by_its_seal(bundle, edit, line):
    """As if the row had been edited in the database before the bundle was built: the
    record, manifest and all agree; only the seal in the audit chain remembers."""
    path, facts = bundle
    files = contents(path)
    record = f"evidence/checkin-{facts['checkin']}.json"
    rezip(path, with_manifest(edit_json(files, record, lambda d: d["checkin"].update(edit))))
    seq = _submission_seq(files, facts["checkin"])
    assert verify(path)[0] == [f"{record}: {line.format(seq=seq)}"]


@needs_photos
def test_a_purged_check_in_shows_no_position_and_keeps_its_other_seal(bundle):
    path, facts = bundle
    files = contents(path)
    record = f"evidence/checkin-{facts['checkin']}.json"
    position = dict.fromkeys(("latitude", "longitude", "accuracy_m", "altitude_m"))

    def purge(document):
        document["checkin"].update(position, purged_at="2029-11-01T00:00:00+00:00")

    rezip(path, with_manifest(edit_json(files, record, purge)))
    differences, notes, _ = verify(path)
    assert differences == []
    assert f"{record}: shows purged_at; its position is not checked" in notes

    def forged_purge(document):  # "purged", to hide a position moved into the geofence
        document["checkin"].update(latitude=32.7093, purged_at="2029-11-01T00:00:00+00:00")

    rezip(path, with_manifest(edit_json(files, record, forged_purge)))
    assert verify(path)[0] == [f"{record}: shows purged_at, yet shows a position"]


@needs_photos
def test_a_ledger_row_is_checked_against_the_frozen_snapshot(bundle):
    path, facts = bundle
    files = contents(path)
    edited = edit_json(files, facts["ledger"], lambda d: d["row"].update(days_absent=0))
    rezip(path, with_manifest(edited))
    snapshot = json.loads(files[facts["ledger"]])["snapshot_file"]
    assert verify(path)[0] == [
        f"{facts['ledger']}: row differs from the frozen snapshot {snapshot}"
    ]


@needs_photos
def test_a_byte_flipped_in_the_zip_itself_is_named(bundle):
    """Edited in place with a hex editor: the ZIP's own CRC no longer matches."""
    path, facts = bundle
    raw = path.read_bytes()
    photo = contents(path)[facts["photo"]]
    at = raw.index(photo[1000:1064]) + 10  # photos are stored uncompressed
    path.write_bytes(raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1 :])
    differences = verify(path)[0]
    assert differences[0].startswith(f"{facts['photo']}: cannot be read from the ZIP (Bad CRC")
    assert differences[1:] == [
        f"evidence/checkin-{facts['checkin']}.json: cites {facts['photo']}, which cannot be read"
    ]


@needs_photos
def test_every_file_with_one_byte_changed_fails(bundle):
    path, facts = bundle
    files = contents(path)
    for name, data in files.items():
        if name == "manifest.json":
            continue
        changed = data[:-2] + bytes([data[-2] ^ 0x20]) + data[-1:]
        rezip(path, {**files, name: changed})
        differences = verify(path)[0]
        assert differences and differences[0].startswith(f"{name}: "), name


@needs_photos
def test_expect_manifest(bundle, capsys):
    path, facts = bundle
    digest = sha256(contents(path)["manifest.json"])
    assert main([str(path), "--expect-manifest", digest]) == 0
    assert capsys.readouterr().out == f"VERIFIED\nmanifest sha256: {digest}\n"
    other = "ab" * 32
    assert main([str(path), "--expect-manifest", other]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "NOT VERIFIED",
        f"manifest sha256 differs: expected {other}, bundle has {digest}",
        f"manifest sha256: {digest}",
    ]


@needs_photos
def test_a_rebuilt_manifest_verifies_but_its_hash_differs(bundle, capsys):
    """What the verifier cannot see alone, and what the recorded hash is for."""
    path, facts = bundle
    files = contents(path)
    original = sha256(files["manifest.json"])
    edited = with_manifest(
        edit_json(
            files,
            f"evidence/leave-{facts['leave']}.json",
            lambda d: d["leave"].update(reason="公务"),
        )
    )
    rezip(path, edited)
    assert main([str(path)]) == 0
    assert main([str(path), "--expect-manifest", original]) == 1
    assert f"manifest sha256 differs: expected {original}" in capsys.readouterr().out


@needs_photos
def test_verbose_prints_a_summary(bundle, capsys):
    path, facts = bundle
    assert main([str(path), "-v"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "VERIFIED" and out[2].startswith("case ") and "chain head" in out[2]


def test_duplicate_entries_are_named(tmp_path):
    manifest = {"format": "evidence-bundle-v1", "case_id": 1, "files": []}
    path = tmp_path / "dup.zip"
    with zipfile.ZipFile(path, "w") as archive, pytest.warns(UserWarning, match="Duplicate"):
        archive.writestr("manifest.json", json.dumps(manifest))
        archive.writestr("case.json", b"{}")
        archive.writestr("case.json", b"{}")
    assert "case.json: appears more than once in the ZIP" in verify(path)[0]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (None, "cannot read"),
        ({"case.json": b"{}"}, "no manifest.json"),
        ({"manifest.json": b"{not json"}, "manifest.json is not valid JSON"),
        ({"manifest.json": b'{"a": 1, "a": 2}'}, "duplicate key"),
        ({"manifest.json": b'{"format": "v0"}'}, "does not say format"),
        ({"manifest.json": b'{"format": "evidence-bundle-v1", "files": [1]}'}, "files must be"),
    ],
)
def test_what_is_not_a_bundle_exits_2(tmp_path, capsys, files, message):
    path = tmp_path / "bundle.zip"
    if files is None:
        path.write_bytes(b"PK not really")
    else:
        rezip(path, files)
    with pytest.raises(BundleError):
        verify(path)
    assert main([str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err


def test_the_tool_hashes_audit_events_as_the_server_does(client, world, make):
    """Independent code, same hashes: on every event of a small history, with Chinese
    text, floats, nested lists, nulls and events without an actor."""
    audit.record("test.one", object_type="case_file", object_id=1, summary={"原因": "未到岗"})
    audit.record(
        "test.two",
        actor=world.reviewer_a,
        object_type="checkin",
        object_id="7",
        summary={"distance_m": 2412.75, "flags": ["a", "b"], "nested": {"x": None, "y": [1.5]}},
    )
    db.session.commit()
    assert submit(client, make.headers(world.cadre_a)).status_code == 201  # with request_id
    events = db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert len(events) == 3 and events[2].request_id is not None
    for event in events:
        entry = bundles.audit_entry(event)
        assert verify_bundle.event_hash(entry) == audit.event_hash(event) == event.hash


def run_cli(args, cwd, env=None):
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@needs_photos
def test_the_module_runs_in_a_subprocess(bundle):
    path, facts = bundle
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    module = [sys.executable, "-m", "server.tools.verify_bundle"]
    done = run_cli([*module, str(path)], ROOT, env)
    assert done.returncode == 0 and done.stdout.startswith("VERIFIED\n"), done.stdout
    files = contents(path)
    rezip(path, {k: v for k, v in files.items() if k != "audit.json"})
    done = run_cli([*module, str(path)], ROOT, env)
    assert done.returncode == 1
    assert done.stdout.splitlines()[:2] == [
        "NOT VERIFIED",
        "audit.json: missing from the bundle (the manifest lists it)",
    ]
    done = run_cli([*module, str(path.parent / "missing.zip")], ROOT, env)
    assert done.returncode == 2 and "cannot read" in done.stderr


@needs_photos
def test_the_script_runs_with_the_standard_library_alone(bundle):
    """-I -S: no site-packages (so no Flask), no PYTHONPATH, no current directory."""
    path, facts = bundle
    script = ROOT / "server" / "tools" / "verify_bundle.py"
    isolated = [sys.executable, "-I", "-S", str(script)]
    done = run_cli([*isolated, str(path)], path.parent)
    assert done.returncode == 0 and done.stdout.startswith("VERIFIED\n"), done.stderr
    files = contents(path)
    rezip(path, {**files, "extra.txt": b"x"})
    done = run_cli([*isolated, str(path)], path.parent)
    assert done.returncode == 1
    assert done.stdout.splitlines()[1] == "extra.txt: not listed in the manifest (a file was added)"
