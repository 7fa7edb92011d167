"""Answers the API fuzzer found undocumented: each is now in the spec, and really given."""

import re
from datetime import date

import pytest

from server.extensions import db
from tests.test_platform import assert_error

MISSING = 2147483647
NOTE = {"note": "复核。"}
REASON = {"reason": "复核。"}
FINDING = {"outcome": "present", "observed_at": "2026-06-01T10:00:00+08:00"}


def documented(client, method, path, status):
    spec = client.get("/api/openapi.json").json
    return str(status) in spec["paths"][path][method.lower()]["responses"]


@pytest.mark.parametrize(
    ("role", "method", "path", "body", "error"),
    [
        ("reviewer_a", "POST", "/api/v1/draws/{draw_id}/execute", {"beacon_value": "7"}, "draw"),
        ("reviewer_a", "POST", "/api/v1/draws/{draw_id}/reveal", None, "draw"),
        (
            "inspector_a",
            "POST",
            "/api/v1/assignments/{assignment_id}/findings",
            FINDING,
            "assignment",
        ),
        ("inspector_a", "POST", "/api/v1/findings/{finding_id}/signatures", None, "finding"),
        (
            "reviewer_a",
            "POST",
            "/api/v1/attendance/closures/{closure_id}/reopen",
            REASON,
            "month_closure",
        ),
        ("cadre_a", "POST", "/api/v1/problems/{problem_id}/start", NOTE, "problem"),
        ("reviewer_a", "POST", "/api/v1/problems/{problem_id}/verify", NOTE, "problem"),
        ("reviewer_a", "POST", "/api/v1/problems/{problem_id}/reopen", NOTE, "problem"),
    ],
)
def test_no_such_object_is_404(client, world, make, role, method, path, body, error):
    headers = make.headers(getattr(world, role))
    concrete = re.sub(r"\{[^}]+\}", str(MISSING), path)
    response = client.open(concrete, method=method, json=body, headers=headers)
    assert_error(response, 404, f"{error}_not_found")
    assert documented(client, method, path, 404)


def test_a_year_that_is_no_whole_number_is_404(client, world, make):
    response = client.get("/api/v1/assessments/-1.xlsx", headers=make.headers(world.reviewer_a))
    assert_error(response, 404, "not_found")
    assert documented(client, "GET", "/api/v1/assessments/{year}.xlsx", 404)


@pytest.mark.parametrize("suffix", ["", "/export"])
def test_a_month_in_the_path_that_is_no_month_is_422(client, world, make, suffix):
    path = f"/api/v1/attendance/{world.posting_a.id}/2026-13{suffix}"
    assert_error(client.get(path, headers=make.headers(world.admin)), 422, "invalid_month")
    assert documented(client, "GET", f"/api/v1/attendance/{{posting_id}}/{{month}}{suffix}", 422)


def test_deleting_a_day_that_is_no_day_is_422(client, world, make):
    response = client.delete("/api/v1/calendar/days/2026-02-30", headers=make.headers(world.admin))
    assert_error(response, 422, "invalid_day")
    assert documented(client, "DELETE", "/api/v1/calendar/days/{day}", 422)


@pytest.mark.parametrize(
    ("path", "spec_path"),
    [
        ("/api/v1/attendance?month=2003-03", "/api/v1/attendance"),
        ("/api/v1/attendance/summary?month=2003-03", "/api/v1/attendance/summary"),
        ("/api/v1/attendance/export?month=2003-03", "/api/v1/attendance/export"),
        ("/api/v1/attendance/{posting}/2003-03", "/api/v1/attendance/{posting_id}/{month}"),
        (
            "/api/v1/attendance/{posting}/2003-03/export",
            "/api/v1/attendance/{posting_id}/{month}/export",
        ),
        ("/api/v1/units/accountability?from=2003-01&to=2003-03", "/api/v1/units/accountability"),
        (
            "/api/v1/units/{unit}/accountability?from=2003-01&to=2003-03",
            "/api/v1/units/{unit_id}/accountability",
        ),
        ("/api/v1/assessments/2003.xlsx", "/api/v1/assessments/{year}.xlsx"),
    ],
)
def test_a_year_without_a_calendar_is_409_wherever_days_are_counted(
    client, world, make, path, spec_path
):
    # chinesecalendar starts in 2004: a posting older than that has months no one entered.
    world.posting_a.start_date = date(2003, 1, 1)
    db.session.commit()
    path = path.format(posting=world.posting_a.id, unit=world.unit_a.id)
    response = client.get(path, headers=make.headers(world.admin))
    assert_error(response, 409, "calendar_year_missing")
    assert documented(client, "GET", spec_path, 409)


def test_the_ledger_export_documents_csv_as_well(client, world, make):
    response = client.get(
        "/api/v1/attendance/export",
        query_string={"month": "2026-03", "format": "csv"},
        headers=make.headers(world.admin),
    )
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    spec = client.get("/api/openapi.json").json
    content = spec["paths"]["/api/v1/attendance/export"]["get"]["responses"]["200"]["content"]
    assert "text/csv" in content
