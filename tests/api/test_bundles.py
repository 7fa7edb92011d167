"""A case's evidence bundle over HTTP: what it holds (records, original photos byte for
byte, attachments, audit entries, manifest), who may download it, that its build is
audited with the manifest's hash, and that the stand-alone verifier accepts it."""

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from config import BASE_DIR
from server import storage
from server.extensions import db
from server.models import (
    Assignment,
    AuditEvent,
    Case,
    CaseAnswer,
    CaseAttachment,
    CaseDecision,
    Checkin,
    Flag,
    Recommendation,
    ReplacementObligation,
)
from server.services import audit
from tests.api.checkin_kit import device_time, fields, submit
from tests.api.test_draws import create as create_draw
from tests.api.test_findings import file_finding
from tests.services.test_photos import PHOTOS_DIR, needs_photos
from tests.test_platform import assert_error

# Two phones' pictures for the cadre (one HEIC), a camera's for the inspectors' arrival.
CADRE_PHOTOS = ("es_nikon_p6000_DSCN0010.jpg", "mei_iphonexr_issue263.heic")
ARRIVAL_PHOTO = "es_orientation_landscape_6.jpg"
ATTACHMENT = b"%PDF-1.4\n% explanation: I was at the township meeting that day.\n%%EOF\n"
MONTH = "2026-10"


def url(case_id):
    return f"/api/v1/cases/{case_id}/evidence.zip"


@dataclass
class Built:
    case: Case
    checkins: list  # the cadre's two check-in ids
    arrival: int
    finding: int
    leave: int
    problem: int
    closure: int
    assignment: int
    attachment_sha: str
    photos: dict  # sha256 -> original bytes


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def post_photo(client, headers, form, data, url="/api/v1/checkins"):
    """checkin_kit.post, encoded in memory: the test client spools bodies over 500 kB to
    a temporary file it never closes (a ResourceWarning, so an error here)."""
    body = MultiDict([(k, str(v)) for k, v in form.items()])
    body.add("photos", FileStorage(io.BytesIO(data), filename="IMG_0.jpg"))
    boundary, encoded = encode_multipart(body)
    return client.post(
        url,
        data=encoded,
        headers=headers,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def build_case(client, world, make):
    """A recall case with everything a bundle can hold, made through the normal paths
    where there is one (check-ins with real photos, review, visit, finding, leave, month
    closure) and as rows where the cases service is not ours (case, answer, decisions)."""
    reviewer = make.headers(world.reviewer_a)
    cadre = make.headers(world.cadre_a)
    photos = {}
    checkins = []
    for name in CADRE_PHOTOS:
        data = (PHOTOS_DIR / name).read_bytes()
        photos[sha256(data)] = data
        created = post_photo(client, cadre, fields(), data)
        assert created.status_code == 201, created.json
        checkins.append(created.json["id"])
    reviewed = client.post(
        f"/api/v1/checkins/{checkins[0]}/reviews",
        json={"decision": "rejected", "reason": "照片拍摄地点与村部不符。"},
        headers=reviewer,
    )
    assert reviewed.status_code == 201, reviewed.json

    for name in ("孙督查", "周督查"):
        make.user("inspector", name=name, jurisdiction=world.county_a)
    db.session.commit()
    draw = create_draw(client, reviewer, scope_code=world.county_a.code, ratio="1").json
    client.post(f"/api/v1/draws/{draw['id']}/execute", json={"beacon_value": "5"}, headers=reviewer)
    assignment = db.session.execute(
        db.select(Assignment).where(Assignment.posting_id == world.posting_a.id)
    ).scalar_one()
    first, second = (make.headers(i) for i in assignment.inspectors)
    data = (PHOTOS_DIR / ARRIVAL_PHOTO).read_bytes()
    photos[sha256(data)] = data
    arrival = post_photo(
        client,
        first,
        fields(captured_at=device_time(), device_id="inspector-phone", kind=None),
        data,
        url=f"/api/v1/assignments/{assignment.id}/arrival",
    ).json["id"]
    finding = file_finding(client, assignment, first, arrival_checkin_id=arrival).json["id"]
    signed = client.post(f"/api/v1/findings/{finding}/signatures", headers=second)
    assert signed.json["status"] == "final"
    problem = signed.json["problems"][0]["id"]

    leave = client.post(
        "/api/v1/leaves",
        json={
            "kind": "leave",
            "start_date": "2099-03-02",
            "end_date": "2099-03-03",
            "reason": "事假",
        },
        headers=cadre,
    ).json["id"]
    closure = client.post(
        "/api/v1/attendance/closures",
        json={"region_code": world.county_a.code, "month": MONTH},
        headers=reviewer,
    )
    assert closure.status_code == 201, closure.json

    photo_b = db.session.get(Checkin, checkins[1]).photos[0].id
    recommendation = Recommendation(
        posting_id=world.posting_a.id,
        rule="false_checkin",
        measure="recall",
        period=f"finding-{finding}",
        dedup_key=f"false_checkin:{world.posting_a.id}:finding-{finding}",
        rule_version="0" * 64,
        rule_settings={"enabled": True, "measure": "recall"},
        evidence=[
            {"type": "finding", "id": finding},
            {"type": "checkin", "id": checkins[0]},
            {"type": "photo", "id": photo_b},
        ],
        summary="核查发现签到与实际不符。",
        status="case_opened",
    )
    case = Case(
        posting_id=world.posting_a.id,
        cadre_id=world.cadre_a.id,
        recommendation=recommendation,
        proposed_measure="recall",
        summary="虚假签到，建议召回。",
        evidence=[
            {"type": "finding", "id": finding},  # cited twice: included once
            {"type": "leave", "id": str(leave)},  # ids as digits are understood too
            {"type": "problem", "id": problem},
            {"type": "ledger_month", "posting_id": world.posting_a.id, "month": MONTH},
            {"type": "month_closure", "id": closure.json["id"]},
            {"type": "assignment", "id": assignment.id},
            {"type": "checkin", "id": 999999},
            {"type": "rumour", "id": 1},
        ],
        decision_level="county",
        answer_deadline=date(2026, 12, 10),
        opened_by_id=world.reviewer_a.id,
    )
    db.session.add(case)
    db.session.flush()
    audit.record("case.open", case, actor=world.reviewer_a, summary={"measure": "recall"})
    answer = CaseAnswer(
        case=case, kind="appeal", text="当天在乡镇开会。", submitted_by_id=world.cadre_a.id
    )
    attachment_sha = sha256(ATTACHMENT)
    storage.stage(db.session, ATTACHMENT, attachment_sha)
    answer.attachments.append(
        CaseAttachment(
            sha256=attachment_sha,
            filename="说明.pdf",
            mime_type="application/pdf",
            size_bytes=len(ATTACHMENT),
        )
    )
    db.session.add(answer)
    recall = CaseDecision(
        case=case, measure="recall", reason="情节严重。", decided_by_id=world.reviewer_a.id
    )
    db.session.add(recall)
    db.session.flush()
    correction = CaseDecision(
        case=case,
        measure="admonition",
        reason="申诉部分属实，改为诫勉谈话。",
        decided_by_id=world.reviewer_a.id,
        corrects_id=recall.id,
    )
    db.session.add(correction)
    db.session.add(
        ReplacementObligation(
            unit_id=world.unit_a.id,
            recalled_posting_id=world.posting_a.id,
            decision_id=recall.id,
            deadline=date(2026, 12, 31),
        )
    )
    db.session.commit()
    return Built(
        case=case,
        checkins=checkins,
        arrival=arrival,
        finding=finding,
        leave=leave,
        problem=problem,
        closure=closure.json["id"],
        assignment=assignment.id,
        attachment_sha=attachment_sha,
        photos=photos,
    )


def download(client, make, user, case_id):
    return client.get(url(case_id), headers=make.headers(user))


def run_verifier(path, *extra):
    return subprocess.run(
        [sys.executable, "-m", "server.tools.verify_bundle", str(path), *extra],
        cwd=BASE_DIR,
        env={**os.environ, "PYTHONPATH": str(BASE_DIR)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def bundle_events():
    return db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.action == "case.bundle").order_by(AuditEvent.seq)
    ).all()


def read_json(archive, name):
    return json.loads(archive.read(name))


@pytest.fixture
def built(client, world, make):
    return build_case(client, world, make)


@needs_photos
def test_a_bundle_holds_every_record_and_verifies(client, world, make, built, tmp_path):
    response = download(client, make, world.reviewer_a, built.case.id)
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="case-{built.case.id}-evidence.zip"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    c1, c2 = built.checkins
    photo_b = db.session.get(Checkin, c2).photos[0]
    assert sorted(archive.namelist()) == sorted(
        [
            "manifest.json",
            "case.json",
            "recommendation.json",
            "audit.json",
            f"evidence/checkin-{c1}.json",
            f"evidence/checkin-{c2}.json",
            f"evidence/checkin-{built.arrival}.json",
            f"evidence/finding-{built.finding}.json",
            f"evidence/photo-{photo_b.id}.json",
            f"evidence/leave-{built.leave}.json",
            f"evidence/problem-{built.problem}.json",
            f"evidence/assignment-{built.assignment}.json",
            f"evidence/ledger_month-{world.posting_a.id}-{MONTH}-closure{built.closure}.json",
            f"evidence/month_closure-{built.closure}-snapshot.json",
            f"attachments/{built.attachment_sha}",
            *(
                f"photos/{sha}.{'heic' if data[4:8] == b'ftyp' else 'jpg'}"
                for sha, data in built.photos.items()
            ),
        ]
    )
    # The originals, byte for byte.
    for sha, data in built.photos.items():
        (name,) = [n for n in archive.namelist() if n.startswith(f"photos/{sha}.")]
        assert archive.read(name) == data
    assert archive.read(f"attachments/{built.attachment_sha}") == ATTACHMENT

    manifest = read_json(archive, "manifest.json")
    assert manifest["format"] == "evidence-bundle-v1" and manifest["case_id"] == built.case.id
    assert manifest["requested_by"] == {
        "id": world.reviewer_a.id,
        "name": "凤台县委组织部",
        "roles": ["reviewer"],
    }
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(archive.namelist()) - {"manifest.json"}
    for name, entry in listed.items():
        data = archive.read(name)
        assert (entry["size"], entry["sha256"]) == (len(data), sha256(data))
    assert manifest["missing_files"] == []
    assert manifest["unresolved"] == [
        {"item": {"type": "checkin", "id": 999999}, "reason": "no such record"},
        {"item": {"type": "rumour", "id": 1}, "reason": "unknown evidence type"},
    ]

    # The manifest's hash is in the audit log, and in the response.
    digest = sha256(archive.read("manifest.json"))
    assert response.headers["X-Manifest-SHA256"] == digest
    (event,) = bundle_events()
    assert event.actor_id == world.reviewer_a.id and event.object_id == str(built.case.id)
    assert event.summary["manifest_sha256"] == digest
    assert event.summary["files"] == len(archive.namelist())
    assert len(event.summary["photos"]) == 3

    path = tmp_path / "bundle.zip"
    path.write_bytes(response.data)
    done = run_verifier(path, "--expect-manifest", digest)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == f"VERIFIED\nmanifest sha256: {digest}\n"
    assert "evidence item not included" in done.stderr  # the unresolved items, said aloud


@needs_photos
def test_the_records_are_complete(client, world, make, built):
    archive = zipfile.ZipFile(
        io.BytesIO(download(client, make, world.reviewer_a, built.case.id).data)
    )
    case = read_json(archive, "case.json")
    assert case["case"]["id"] == built.case.id and case["case"]["proposed_measure"] == "recall"
    assert (
        case["posting"]["cadre_name"] == "张伟"
        and case["posting"]["village_code"] == "340421100201"
    )
    (answer,) = case["answers"]
    assert answer["kind"] == "appeal"
    assert answer["attachments"][0]["file"] == f"attachments/{built.attachment_sha}"
    recall, correction = case["decisions"]
    assert (
        recall["corrected_by_id"] == correction["id"] and correction["corrects_id"] == recall["id"]
    )
    assert case["replacement_obligation"]["decision_id"] == recall["id"]
    assert read_json(archive, "recommendation.json")["recommendation"]["rule"] == "false_checkin"

    claim = read_json(archive, f"evidence/checkin-{built.checkins[0]}.json")
    assert claim["checkin"]["verdict"] == "flagged"
    assert "contradicted_by_inspection" in {f["code"] for f in claim["flags"]}
    (review,) = claim["reviews"]
    assert review["decision"] == "rejected" and review["reason"] == "照片拍摄地点与村部不符。"
    (photo,) = claim["photos"]
    assert photo["file"] == f"photos/{photo['sha256']}.jpg" and photo["sha256"] in built.photos

    finding = read_json(archive, f"evidence/finding-{built.finding}.json")
    assert finding["finding"]["outcome"] == "absent" and len(finding["signatures"]) == 2
    assert finding["arrival_record"] == f"evidence/checkin-{built.arrival}.json"
    assert finding["problems"][0]["status"] == "open"

    ledger = read_json(
        archive, f"evidence/ledger_month-{world.posting_a.id}-{MONTH}-closure{built.closure}.json"
    )
    snapshot = archive.read(ledger["snapshot_file"])
    assert sha256(snapshot) == ledger["closure"]["snapshot_hash"]
    assert (
        ledger["row"]["posting_id"] == world.posting_a.id and ledger["row"]["cadre_name"] == "张伟"
    )
    assert read_json(archive, f"evidence/leave-{built.leave}.json")["leave"]["reason"] == "事假"
    problem = read_json(archive, f"evidence/problem-{built.problem}.json")
    assert problem["problem"]["finding_id"] == built.finding and problem["rectifications"] == []


@needs_photos
def test_the_audit_entries_are_the_chain_s_own(client, world, make, built):
    archive = zipfile.ZipFile(
        io.BytesIO(download(client, make, world.reviewer_a, built.case.id).data)
    )
    document = read_json(archive, "audit.json")
    actions = [e["action"] for e in document["events"]]
    for action in (
        "checkin.submit",
        "checkin.review",
        "finding.create",
        "finding.sign",
        "finding.final",
        "leave.request",
        "month.close",
        "case.open",
    ):
        assert action in actions
    for entry in document["events"]:
        stored = db.session.get(AuditEvent, entry["seq"])
        assert entry["hash"] == stored.hash == audit.event_hash(stored)
        assert entry["prev_hash"] == stored.prev_hash
    # The head when the bundle was built: the event just before case.bundle.
    (event,) = bundle_events()
    assert document["head"] == {"seq": event.seq - 1, "hash": event.prev_hash}
    # Nothing about other people's objects.
    assert not any(e["object_type"] == "user" for e in document["events"])


@needs_photos
def test_the_cadre_downloads_their_own_case_without_the_jurisdiction_snapshot(
    client, world, make, built, tmp_path
):
    response = download(client, make, world.cadre_a, built.case.id)
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert not any(n.startswith("evidence/month_closure-") for n in archive.namelist())
    ledger = read_json(
        archive, f"evidence/ledger_month-{world.posting_a.id}-{MONTH}-closure{built.closure}.json"
    )
    assert ledger["snapshot_file"] is None and ledger["row"]["posting_id"] == world.posting_a.id
    # What is held against them, in full: the inspectors' arrival photo too.
    assert len([n for n in archive.namelist() if n.startswith("photos/")]) == 3
    assert read_json(archive, "manifest.json")["requested_by"]["id"] == world.cadre_a.id
    path = tmp_path / "bundle.zip"
    path.write_bytes(response.data)
    done = run_verifier(path)
    assert done.returncode == 0 and done.stdout.startswith("VERIFIED\n"), done.stdout
    assert "row not checked against its snapshot" in done.stderr
    (event,) = bundle_events()
    assert event.actor_id == world.cadre_a.id


@pytest.mark.parametrize("caller", ["cadre_b", "aid_cadre_a", "reviewer_b", "inspector_a"])
def test_out_of_scope_is_404_and_nothing_is_recorded(client, world, make, caller):
    case = Case(
        posting_id=world.posting_a.id,
        cadre_id=world.cadre_a.id,
        proposed_measure="reminder",
        summary="十月出勤不足。",
        evidence=[],
        decision_level="county",
        answer_deadline=date(2026, 12, 10),
        opened_by_id=world.reviewer_a.id,
    )
    db.session.add(case)
    db.session.commit()
    response = download(client, make, getattr(world, caller), case.id)
    assert_error(response, 404, "case_not_found")
    assert response.json == download(client, make, getattr(world, caller), 999999).json
    assert bundle_events() == []
    for allowed in ("admin", "city_reviewer"):
        assert download(client, make, getattr(world, allowed), case.id).status_code == 200


def test_a_bundle_needs_a_token(client):
    assert_error(client.get(url(1)), 401, "unauthorized")


def test_a_bundle_too_large_to_build_is_refused(client, world, make, app, monkeypatch):
    created = submit(client, make.headers(world.cadre_a)).json
    case = own_initiative(world, [{"type": "checkin", "id": created["id"]}])
    monkeypatch.setitem(app.config, "MAX_BUNDLE_BYTES", 10_000)
    response = download(client, make, world.reviewer_a, case.id)
    assert_error(response, 409, "bundle_too_large")
    assert response.json["errors"]["limit"] == 10_000
    assert response.json["errors"]["bytes"] > created["photos"][0]["size_bytes"]
    assert bundle_events() == []


def test_a_photo_missing_from_the_store_is_declared_not_dropped(client, world, make, tmp_path):
    created = submit(client, make.headers(world.cadre_a)).json
    sha = created["photos"][0]["sha256"]
    storage.get_store().original_path(sha).unlink()
    case = own_initiative(world, [{"type": "checkin", "id": created["id"]}])
    response = download(client, make, world.reviewer_a, case.id)
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert not any(n.startswith("photos/") for n in archive.namelist())
    assert read_json(archive, "manifest.json")["missing_files"] == [
        {"sha256": sha, "kind": "photo"}
    ]
    (photo,) = read_json(archive, f"evidence/checkin-{created['id']}.json")["photos"]
    assert photo["sha256"] == sha and photo["file"] is None
    path = tmp_path / "bundle.zip"
    path.write_bytes(response.data)
    done = run_verifier(path)
    assert done.returncode == 0, done.stdout
    assert f"file {sha} was missing from the store" in done.stderr


def test_a_second_bundle_carries_the_first_one_s_record(client, world, make):
    case = own_initiative(world, [])
    first = download(client, make, world.reviewer_a, case.id)
    second = download(client, make, world.reviewer_a, case.id)
    events = json.loads(zipfile.ZipFile(io.BytesIO(second.data)).read("audit.json"))["events"]
    (recorded,) = [e for e in events if e["action"] == "case.bundle"]
    assert recorded["summary"]["manifest_sha256"] == first.headers["X-Manifest-SHA256"]
    assert len(bundle_events()) == 2


def own_initiative(world, evidence):
    case = Case(
        posting_id=world.posting_a.id,
        cadre_id=world.cadre_a.id,
        proposed_measure="talk",
        summary="约谈。",
        evidence=evidence,
        decision_level="county",
        answer_deadline=date.today() + timedelta(days=7),
        opened_by_id=world.reviewer_a.id,
    )
    db.session.add(case)
    db.session.commit()
    return case


def colleague_checkin(world, make):
    colleague = make.user("cadre", name="陈静", unit=world.unit_a)
    posting = make.posting(colleague, world.village_a1, world.unit_a, role="team_member")
    return make.checkin(posting, latitude=32.123456, longitude=116.654321)


def test_someone_else_s_rows_reach_only_those_who_may_see_them(client, world, make, tmp_path):
    theirs = colleague_checkin(world, make)
    mine = make.checkin(world.posting_a)
    match = {"earlier_checkin_id": theirs.id, "earlier_photo_id": 7, "hamming_distance": 2}
    db.session.add(
        Flag(
            checkin=mine,
            code="photo_reused",
            severity="high",
            details={**match, "matches": [match]},
        )
    )
    db.session.commit()
    case = own_initiative(world, [{"type": "checkin", "id": i} for i in (mine.id, theirs.id)])

    cadre = zipfile.ZipFile(io.BytesIO(download(client, make, world.cadre_a, case.id).data))
    reference = read_json(cadre, f"evidence/checkin-{theirs.id}.json")
    assert set(reference) == {"type", "of", "id", "record_sha256"}
    assert reference["type"] == "reference" and reference["of"] == "checkin"
    (flag,) = read_json(cadre, f"evidence/checkin-{mine.id}.json")["flags"]
    assert flag["details"] == {"hamming_distance": 2, "matches": [{"hamming_distance": 2}]}
    events = read_json(cadre, "audit.json")["events"]
    assert all(e["object_id"] != str(theirs.id) for e in events if e["object_type"] == "checkin")
    path = tmp_path / "cadre.zip"
    path.write_bytes(download(client, make, world.cadre_a, case.id).data)
    assert run_verifier(path).returncode == 0

    reviewer = zipfile.ZipFile(io.BytesIO(download(client, make, world.reviewer_a, case.id).data))
    whole = read_json(reviewer, f"evidence/checkin-{theirs.id}.json")
    assert whole["checkin"]["latitude"] == 32.123456
    assert reference["record_sha256"] == sha256(
        json.dumps(
            {k: v for k, v in whole["checkin"].items() if k != "standing"},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
    )
    (flag,) = read_json(reviewer, f"evidence/checkin-{mine.id}.json")["flags"]
    assert flag["details"]["earlier_checkin_id"] == theirs.id


def test_a_phone_s_other_users_are_named_only_to_those_who_may_see_them(client, world, make):
    """Found by the authorization sweep: the bundle named them to anyone."""
    mine = make.checkin(world.posting_a)
    details = {"reason": "used_by_other_cadre", "other_cadre_ids": [world.cadre_b.id]}
    db.session.add(Flag(checkin=mine, code="new_device", severity="high", details=details))
    db.session.commit()
    case = own_initiative(world, [{"type": "checkin", "id": mine.id}])

    def other_users(caller):
        archive = zipfile.ZipFile(io.BytesIO(download(client, make, caller, case.id).data))
        (flag,) = read_json(archive, f"evidence/checkin-{mine.id}.json")["flags"]
        return flag["details"]["other_cadre_ids"]

    assert other_users(world.cadre_a) == []
    assert other_users(world.reviewer_a) == []
    assert other_users(world.city_reviewer) == [world.cadre_b.id]


def test_a_closure_s_recommendations_reach_only_those_who_see_the_closure(
    client, world, make, tmp_path
):
    colleague = make.user("cadre", name="陈静", unit=world.unit_a)
    make.posting(colleague, world.village_a2, world.unit_a, role="team_member")
    db.session.commit()
    reviewer = make.headers(world.reviewer_a)
    closed = client.post(
        "/api/v1/attendance/closures",
        json={"region_code": world.county_a.code, "month": "2026-03"},
        headers=reviewer,
    )
    assert closed.status_code == 201, closed.json
    rec = (
        db.session.execute(
            db.select(Recommendation).where(Recommendation.posting_id == world.posting_a.id)
        )
        .scalars()
        .first()
    )
    case = client.post("/api/v1/cases", json={"recommendation_id": rec.id}, headers=reviewer)
    assert case.status_code == 201, case.json

    def created(user):
        data = download(client, make, user, case.json["id"]).data
        events = read_json(zipfile.ZipFile(io.BytesIO(data)), "audit.json")["events"]
        return data, [e for e in events if e["action"] == "recommendation.create"]

    data, events = created(world.cadre_a)
    assert events == []
    path = tmp_path / "cadre.zip"
    path.write_bytes(data)
    done = run_verifier(path)
    assert done.returncode == 0, done.stdout
    _data, events = created(world.reviewer_a)
    assert len(events) == 1
