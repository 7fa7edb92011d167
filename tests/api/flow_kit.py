"""Helpers for the end-to-end consequence tests (test_consequences_flow.py): the
evidence as the people involved make it (attendance, leave, an inspection visit over
HTTP), the case's path from a recommendation to a decision, and the evidence bundle
checked by the stand-alone verifier in a subprocess."""

import calendar as gregorian
import zipfile
from datetime import date

from server.extensions import db
from server.models import Assignment
from tests.api.case_kit import open_case
from tests.api.checkin_kit import device_time, fields, photo_for, post
from tests.api.test_attendance import present
from tests.api.test_bundles import run_verifier
from tests.api.test_draws import create as create_draw
from tests.api.test_findings import file_finding

# ------------------------------------------------------------------ evidence


def every_day(make, posting, month):
    """Present every day of the month: bare rows, as a month of synced check-ins leaves
    them (a month of HTTP check-ins is not practical: the server flags device times
    older than its sync delay)."""
    year, number = int(month[:4]), int(month[5:])
    last = gregorian.monthrange(year, number)[1]
    return present(make, posting, [date(year, number, d) for d in range(1, last + 1)])


def ask_leave(client, headers, start, end, reason="母亲住院手术，回家照料。", **extra):
    body = {
        "kind": "leave",
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "reason": reason,
        **extra,
    }
    response = client.post("/api/v1/leaves", json=body, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def approve_leave(client, headers, leave_id):
    response = client.post(
        f"/api/v1/leaves/{leave_id}/decision",
        json={"decision": "approved", "reason": "情况属实，同意。"},
        headers=headers,
    )
    assert response.status_code == 200, response.json
    assert response.json["status"] == "approved"
    return response.json


def visit(client, make, world, **window):
    """County A's department draws every posting of the county for a visit by a team of
    two, and executes the draw. Returns (posting A's assignment, the team's headers)."""
    for name in ("孙督查", "周督查"):
        make.user("inspector", name=name, jurisdiction=world.county_a)
    db.session.commit()
    reviewer = make.headers(world.reviewer_a)
    draw = create_draw(client, reviewer, scope_code=world.county_a.code, ratio="1", **window)
    assert draw.status_code == 201, draw.json
    executed = client.post(
        f"/api/v1/draws/{draw.json['id']}/execute", json={"beacon_value": "5"}, headers=reviewer
    )
    assert executed.status_code == 200, executed.json
    assignment = db.session.execute(
        db.select(Assignment).where(Assignment.posting_id == world.posting_a.id)
    ).scalar_one()
    team = [make.headers(inspector) for inspector in assignment.inspectors]
    assert len(team) == 2
    return assignment, team


def arrive(client, assignment, headers):
    """The team's arrival in the village, now, with a photo."""
    at = device_time()
    response = post(
        client,
        headers,
        fields(captured_at=at, device_id="inspector-phone", kind=None),
        [photo_for(at, 31)],
        url=f"/api/v1/assignments/{assignment.id}/arrival",
    )
    assert response.status_code == 201, response.json
    return response.json


def find(client, assignment, team, outcome, **overrides):
    """One inspector files the finding, the other co-signs it: it is final."""
    first, second = team
    draft = file_finding(client, assignment, first, outcome=outcome, **overrides)
    assert draft.status_code == 201, draft.json
    assert draft.json["status"] == "draft"
    final = client.post(f"/api/v1/findings/{draft.json['id']}/signatures", headers=second)
    assert final.status_code == 200, final.json
    assert final.json["status"] == "final"
    return final.json


# ------------------------------------------------------------------ the case


def open_from(client, headers, recommendation):
    response = open_case(client, headers, recommendation_id=recommendation["id"])
    assert response.status_code == 201, response.json
    return response.json


def my_cases(client, headers):
    response = client.get("/api/v1/me/cases", headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def case_as(client, headers, case_id):
    response = client.get(f"/api/v1/cases/{case_id}", headers=headers)
    assert response.status_code == 200, response.json
    return response.json


# ------------------------------------------------------------------ the bundle


def bundle_verifies(client, headers, case_id, tmp_path):
    """Download the case's bundle, check it with the verifier against the manifest hash
    the server recorded, and return the file's path."""
    response = client.get(f"/api/v1/cases/{case_id}/evidence.zip", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    path = tmp_path / f"case-{case_id}-evidence.zip"
    path.write_bytes(response.data)
    done = run_verifier(path, "--expect-manifest", response.headers["X-Manifest-SHA256"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("VERIFIED\n"), done.stdout
    return path


def flip_photo_byte(path, sha256):
    """Rewrite the bundle with one bit changed in the middle of photo `sha256`; returns
    the photo's name in the bundle."""
    with zipfile.ZipFile(path) as archive:
        files = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    (name,) = [n for n in files if n.startswith(f"photos/{sha256}.")]
    data = files[name]
    middle = len(data) // 2
    files[name] = data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]
    with zipfile.ZipFile(path, "w") as archive:
        for member, content in files.items():
            archive.writestr(member, content)
    return name


def tampered_photo_fails(path, sha256):
    name = flip_photo_byte(path, sha256)
    done = run_verifier(path)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "NOT VERIFIED"
    assert any(line.startswith(f"{name}: ") for line in lines[1:]), done.stdout
