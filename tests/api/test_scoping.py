"""Who sees what. One scoping mechanism (server/auth.py) answers every read; an object
outside the caller's scope is a 404, exactly like one that does not exist.

The world: county A (Fengtai) and county B (Shou) under Huainan city. cadre_a is posted
in A1, cadre_b in B1; aid_cadre_a is paired with household_a in A2; household_b is in B1.
"""

import re
from datetime import date

import pytest

from server.extensions import db
from server.models import Assignment, Case, Flag, Recommendation
from tests.api.case_kit import answer
from tests.api.checkin_kit import submit

MONTH = "2026-03"  # a month every posting of the world served
CALLERS = [
    "admin",
    "city_reviewer",
    "reviewer_a",
    "reviewer_b",
    "inspector_a",
    "cadre_a",
    "cadre_b",
    "aid_cadre_a",
]

# object -> callers that may see it (everyone else gets 404)
VISIBLE_TO = {
    "posting_a": {"admin", "city_reviewer", "reviewer_a", "cadre_a"},
    "posting_b": {"admin", "city_reviewer", "reviewer_b", "cadre_b"},
    "household_a": {"admin", "city_reviewer", "reviewer_a", "aid_cadre_a"},
    "household_b": {"admin", "city_reviewer", "reviewer_b"},
    "cadre_a": {"admin", "city_reviewer", "reviewer_a", "cadre_a"},
    "cadre_b": {"admin", "city_reviewer", "reviewer_b", "cadre_b"},
    # Serves in county A, employed by a unit of county B: both departments see them.
    "inspector_a": {"admin", "city_reviewer", "reviewer_a", "reviewer_b", "inspector_a"},
    "reviewer_b": {"admin", "city_reviewer", "reviewer_b"},
    # Division codes and dispatching units are public reference data.
    "village_b1": set(CALLERS),
    "unit_b": set(CALLERS),
    # inspector_a is on the team the county A draw sends to posting_a (window open).
    "checkin_a": {"admin", "city_reviewer", "reviewer_a", "cadre_a", "inspector_a"},
    "checkin_b": {"admin", "city_reviewer", "reviewer_b", "cadre_b"},
    "photo_a": {"admin", "city_reviewer", "reviewer_a", "cadre_a", "inspector_a"},
    "photo_b": {"admin", "city_reviewer", "reviewer_b", "cadre_b"},
    # A county A draw, executed, its window open, not yet published.
    "draw_a": {"admin", "city_reviewer", "reviewer_a"},
    "assignment_a": {"admin", "city_reviewer", "reviewer_a", "inspector_a"},
    # Its finding, still a draft: the team and the department only.
    "finding_a": {"admin", "city_reviewer", "reviewer_a", "inspector_a"},
    # Leave requests: the cadre and the departments over the posting's village.
    "leave_a": {"admin", "city_reviewer", "reviewer_a", "cadre_a"},
    "leave_b": {"admin", "city_reviewer", "reviewer_b", "cadre_b"},
    # County A's March, closed by its department.
    "closure_a": {"admin", "city_reviewer", "reviewer_a"},
    # A decision on checkin_a, and open flags on both: visible exactly as their check-ins.
    "review_a": {"admin", "city_reviewer", "reviewer_a", "cadre_a", "inspector_a"},
    "flag_a": {"admin", "city_reviewer", "reviewer_a", "cadre_a", "inspector_a"},
    "flag_b": {"admin", "city_reviewer", "reviewer_b", "cadre_b"},
    # The rules people are held to are public to everyone.
    "policy_a": set(CALLERS),
    # Entered by county A's department about posting_a: the departments and the cadre.
    "problem_a": {"admin", "city_reviewer", "reviewer_a", "cadre_a"},
    # A case against cadre_a: the departments over the posting, and the cadre it concerns.
    "case_a": {"admin", "city_reviewer", "reviewer_a", "cadre_a"},
    # The cadre's answer to it, with a file: visible exactly as its case.
    "case_attachment_a": {"admin", "city_reviewer", "reviewer_a", "cadre_a"},
    # The reminder closing county A's March made for posting_a: departments and the cadre.
    "recommendation_a": {"admin", "city_reviewer", "reviewer_a", "cadre_a"},
    # Unit B's accountability: the departments over its home region (county B).
    "accountability_b": {"admin", "city_reviewer", "reviewer_b"},
    # A year's assessment sheet: every department, for its own jurisdiction.
    "assessment_year": {"admin", "city_reviewer", "reviewer_a", "reviewer_b"},
}
# Endpoints only some roles may call at all: everyone else gets 403, whatever the id.
ROLE_GATED = {
    "/api/v1/attendance/closures/{closure_id}": {"admin", "reviewer"},
    "/api/v1/draws/{draw_id}": {"admin", "reviewer"},
    "/api/v1/assignments/{assignment_id}": {"admin", "reviewer", "inspector"},
    "/api/v1/units/{unit_id}/accountability": {"admin", "reviewer"},
    "/api/v1/assessments/{year}.xlsx": {"admin", "reviewer"},
}
# Before publication a proof is "not yet" (409) to its department, "no such draw" (404)
# to everyone else.
UNPUBLISHED_PROOF = {"admin": 409, "city_reviewer": 409, "reviewer_a": 409}

# Every API path with an object id, and which objects of the world it is tried with.
ID_PATHS = {
    "/api/v1/postings/{posting_id}": ["posting_a", "posting_b"],
    "/api/v1/households/{household_id}": ["household_a", "household_b"],
    "/api/v1/users/{user_id}": ["cadre_a", "cadre_b", "inspector_a", "reviewer_b"],
    "/api/v1/regions/{region_id}": ["village_b1"],
    "/api/v1/units/{unit_id}": ["unit_b"],
    "/api/v1/checkins/{checkin_id}": ["checkin_a", "checkin_b"],
    "/api/v1/photos/{photo_id}": ["photo_a", "photo_b"],
    "/api/v1/draws/{draw_id}": ["draw_a"],
    "/api/v1/draws/{draw_id}/proof": ["draw_a"],
    "/api/v1/assignments/{assignment_id}": ["assignment_a"],
    "/api/v1/findings/{finding_id}": ["finding_a"],
    "/api/v1/leaves/{leave_id}": ["leave_a", "leave_b"],
    "/api/v1/attendance/{posting_id}/{month}": ["posting_a", "posting_b"],
    "/api/v1/attendance/{posting_id}/{month}/export": ["posting_a", "posting_b"],
    "/api/v1/attendance/closures/{closure_id}": ["closure_a"],
    "/api/v1/policies/{policy_id}": ["policy_a"],
    "/api/v1/reviews/{review_id}": ["review_a"],
    "/api/v1/problems/{problem_id}": ["problem_a"],
    "/api/v1/cases/{case_id}/evidence.zip": ["case_a"],
    "/api/v1/cases/{case_id}": ["case_a"],
    "/api/v1/cases/{case_id}/attachments/{attachment_id}": ["case_attachment_a"],
    "/api/v1/recommendations/{recommendation_id}": ["recommendation_a"],
    "/api/v1/units/{unit_id}/accountability": ["accountability_b"],
    "/api/v1/assessments/{year}.xlsx": ["assessment_year"],
}

LISTS = {
    "/api/v1/postings": ["posting_a", "posting_b"],
    "/api/v1/households": ["household_a", "household_b"],
    "/api/v1/users": ["cadre_a", "cadre_b", "inspector_a", "reviewer_b"],
    "/api/v1/checkins": ["checkin_a", "checkin_b"],
    "/api/v1/draws": ["draw_a"],
    "/api/v1/assignments": ["assignment_a"],
    "/api/v1/findings": ["finding_a"],
    "/api/v1/leaves": ["leave_a", "leave_b"],
    "/api/v1/policies": ["policy_a"],
    "/api/v1/flags": ["flag_a", "flag_b"],
    "/api/v1/problems": ["problem_a"],
    "/api/v1/cases": ["case_a"],
    "/api/v1/recommendations": ["recommendation_a"],
}
REVIEWERS = {"admin", "city_reviewer", "reviewer_a", "reviewer_b"}
LIST_ROLES = {
    "/api/v1/users": REVIEWERS,
    "/api/v1/draws": REVIEWERS,
    "/api/v1/assignments": REVIEWERS | {"inspector_a"},
    "/api/v1/flags": REVIEWERS,
}


@pytest.fixture
def objects(client, world, make):
    """Ids of the world's objects by name, plus a check-in with a photo by each cadre."""
    ids = {name: getattr(world, name).id for name in VISIBLE_TO if hasattr(world, name)}
    for suffix, cadre in (("a", world.cadre_a), ("b", world.cadre_b)):
        post = world.posting_a if suffix == "a" else world.posting_b
        village = post.village
        created = submit(
            client, make.headers(cadre), latitude=village.latitude, longitude=village.longitude
        ).json
        ids[f"checkin_{suffix}"] = created["id"]
        ids[f"photo_{suffix}"] = created["photos"][0]["id"]
    make.user("inspector", name="钱督查", jurisdiction=world.county_a)
    reviewer = make.headers(world.reviewer_a)
    draw = client.post(
        "/api/v1/draws",
        json={
            "scope_code": world.county_a.code,
            "count": 1,
            "window_start": "2026-01-01T00:00:00+08:00",
            "window_end": "2099-01-01T00:00:00+08:00",
            "beacon_spec": {"source": "test"},
        },
        headers=reviewer,
    ).json
    client.post(f"/api/v1/draws/{draw['id']}/execute", json={"beacon_value": "7"}, headers=reviewer)
    ids["draw_a"] = draw["id"]
    ids["assignment_a"] = db.session.execute(
        db.select(Assignment.id).where(Assignment.draw_id == draw["id"])
    ).scalar_one()
    finding = client.post(
        f"/api/v1/assignments/{ids['assignment_a']}/findings",
        json={"outcome": "present", "observed_at": "2026-06-01T10:00:00+08:00"},
        headers=make.headers(world.inspector_a),
    )
    ids["finding_a"] = finding.json["id"]
    for suffix, cadre in (("a", world.cadre_a), ("b", world.cadre_b)):
        leave = {"kind": "leave", "start_date": "2099-03-02", "end_date": "2099-03-03"}
        ids[f"leave_{suffix}"] = client.post(
            "/api/v1/leaves", json={**leave, "reason": "事假"}, headers=make.headers(cadre)
        ).json["id"]
    ids["policy_a"] = client.post(
        "/api/v1/policies",
        json={
            "region_code": world.county_a.code,
            "effective_from": "2026-01-01",
            "rules": {"attendance": {"min_days_per_month": 18}},
            "reason": "test",
        },
        headers=reviewer,
    ).json["id"]
    ids["problem_a"] = client.post(
        "/api/v1/problems",
        json={
            "village_code": world.village_a1.code,
            "posting_id": world.posting_a.id,
            "category": "驻村管理",
            "description": "值班表缺失。",
            "deadline": "2099-01-01",
        },
        headers=reviewer,
    ).json["id"]
    ids["review_a"] = client.post(
        f"/api/v1/checkins/{ids['checkin_a']}/reviews",
        json={"decision": "accepted", "reason": "核实无误。"},
        headers=reviewer,
    ).json["id"]
    for suffix in ("a", "b"):
        flag = Flag(checkin_id=ids[f"checkin_{suffix}"], code="outside_geofence", severity="high")
        db.session.add(flag)
        db.session.flush()
        ids[f"flag_{suffix}"] = flag.id
    db.session.commit()
    ids["closure_a"] = client.post(
        "/api/v1/attendance/closures",
        json={"region_code": world.county_a.code, "month": MONTH},
        headers=reviewer,
    ).json["id"]
    ids["recommendation_a"] = db.session.execute(
        db.select(Recommendation.id).where(Recommendation.posting_id == world.posting_a.id)
    ).scalar_one()
    ids["accountability_b"] = world.unit_b.id
    ids["assessment_year"] = 2026
    case = Case(
        posting_id=world.posting_a.id,
        cadre_id=world.cadre_a.id,
        proposed_measure="reminder",
        summary="三月出勤不足。",
        evidence=[{"type": "checkin", "id": ids["checkin_a"]}],
        decision_level="county",
        answer_deadline=date(2026, 12, 31),
        opened_by_id=world.reviewer_a.id,
    )
    db.session.add(case)
    db.session.commit()
    ids["case_a"] = case.id
    answered = answer(client, make.headers(world.cadre_a), case.id, files=[("a.txt", b"note")])
    ids["case_attachment_a"] = (case.id, answered.json["attachments"][0]["id"])
    return ids


def expected_status(path, name, caller):
    if path.endswith("/proof"):
        return UNPUBLISHED_PROOF.get(caller, 404)
    if path in ROLE_GATED and not {r for r in ROLES[caller]} & ROLE_GATED[path]:
        return 403
    return 200 if caller in VISIBLE_TO[name] else 404


ROLES = {
    "admin": {"admin"},
    "city_reviewer": {"reviewer"},
    "reviewer_a": {"reviewer"},
    "reviewer_b": {"reviewer"},
    "inspector_a": {"inspector"},
    "cadre_a": {"cadre"},
    "cadre_b": {"cadre"},
    "aid_cadre_a": {"cadre"},
}


def spec_paths(client):
    return client.get("/api/openapi.json").json["paths"]


def concrete(path, object_id):
    """`object_id` fills every id in the path; a tuple fills them in order."""
    path = path.replace("{month}", MONTH)
    ids = iter(object_id if isinstance(object_id, tuple) else [object_id] * path.count("{"))
    return re.sub(r"\{[^}]+\}", lambda _: str(next(ids)), path)


def test_every_id_path_is_in_the_matrix(client):
    with_ids = {p for p, ops in spec_paths(client).items() if "{" in p and "get" in ops}
    assert with_ids == set(ID_PATHS), "add new object endpoints to ID_PATHS"


def test_every_protected_operation_needs_a_token(client):
    checked = 0
    for path, operations in spec_paths(client).items():
        for method, operation in operations.items():
            if method == "parameters" or not operation.get("security"):
                continue
            response = client.open(concrete(path, 1), method=method.upper(), json={})
            assert response.status_code == 401, f"{method.upper()} {path}"
            assert response.json["error"] == "unauthorized"
            checked += 1
    assert checked >= 20


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("path", sorted(ID_PATHS))
def test_reading_an_object_outside_scope_is_404(client, world, make, objects, caller, path):
    headers = make.headers(getattr(world, caller))
    for name in ID_PATHS[path]:
        response = client.get(concrete(path, objects[name]), headers=headers)
        expected = expected_status(path, name, caller)
        assert response.status_code == expected, f"{caller} GET {path} {name}"
        if expected == 404:
            assert response.json["error"].endswith("_not_found")


@pytest.mark.parametrize("caller", CALLERS)
def test_nonexistent_and_out_of_scope_answers_are_identical(client, world, make, caller):
    headers = make.headers(getattr(world, caller))
    missing = client.get("/api/v1/postings/999999", headers=headers).json
    for name in ("posting_a", "posting_b"):
        if caller not in VISIBLE_TO[name]:
            hidden = client.get(f"/api/v1/postings/{getattr(world, name).id}", headers=headers)
            assert hidden.json == missing


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("path", sorted(LISTS))
def test_lists_never_return_rows_outside_scope(client, world, make, objects, caller, path):
    response = client.get(path + "?page_size=200", headers=make.headers(getattr(world, caller)))
    if caller not in LIST_ROLES.get(path, set(CALLERS)):
        assert response.status_code == 403
        return
    assert response.status_code == 200
    returned = {row["id"] for row in response.json}
    for name in LISTS[path]:
        visible = caller in VISIBLE_TO[name]
        assert (objects[name] in returned) == visible, f"{caller} lists {name}"


# PATCH: the role gate comes first (403), then scope (404), then the business rule.
PATCHES = {
    "/api/v1/postings/{posting_id}": ("posting_a", {"end_date": "2026-12-31"}),
    "/api/v1/households/{household_id}": ("household_a", {"head_name": "王小山"}),
    "/api/v1/users/{user_id}": ("cadre_a", {"name": "张伟伟"}),
    "/api/v1/units/{unit_id}": ("unit_b", {"name": "寿县教育体育局"}),
    "/api/v1/regions/{region_id}": ("village_b1", {"name": "南关村"}),
}
PATCH_EXPECTED = {
    # caller: {path: status}
    "admin": dict.fromkeys(PATCHES, 200),
    "city_reviewer": {**dict.fromkeys(PATCHES, 200), "/api/v1/regions/{region_id}": 403},
    "reviewer_a": {
        "/api/v1/postings/{posting_id}": 200,
        "/api/v1/households/{household_id}": 200,
        "/api/v1/users/{user_id}": 200,
        "/api/v1/units/{unit_id}": 403,  # unit B is visible (public) but not theirs
        "/api/v1/regions/{region_id}": 403,
    },
    "reviewer_b": {
        "/api/v1/postings/{posting_id}": 404,
        "/api/v1/households/{household_id}": 404,
        "/api/v1/users/{user_id}": 404,
        "/api/v1/units/{unit_id}": 200,
        "/api/v1/regions/{region_id}": 403,
    },
    **{c: dict.fromkeys(PATCHES, 403) for c in ("inspector_a", "cadre_a", "cadre_b")},
}


@pytest.mark.parametrize("caller", sorted(PATCH_EXPECTED))
@pytest.mark.parametrize("path", sorted(PATCHES))
def test_patch_matrix(client, world, make, caller, path):
    name, body = PATCHES[path]
    response = client.patch(
        concrete(path, getattr(world, name).id),
        json=body,
        headers=make.headers(getattr(world, caller)),
    )
    assert response.status_code == PATCH_EXPECTED[caller][path], response.json


def test_patch_paths_cover_every_patch_operation(client):
    patchable = {p for p, ops in spec_paths(client).items() if "patch" in ops}
    assert patchable == set(PATCHES)


def test_audit_log_is_for_admins_only(client, world, make):
    for caller in CALLERS:
        response = client.get("/api/v1/audit-events", headers=make.headers(getattr(world, caller)))
        assert response.status_code == (200 if caller == "admin" else 403)
