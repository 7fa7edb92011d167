"""Console hardening as a sweep, so a page or form added later is covered without a new
test: every state-changing console route refuses a request without the session's CSRF
token (and changes nothing), every answer carries the security headers, and production
adds HSTS and secure cookies."""

import re

import pytest

from config import ProductionConfig, TestingConfig
from server import create_app
from server.extensions import db
from server.models import AuditEvent, AuthSession, CheckinReview
from tests.web.console_kit import log_in, token

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def console_writes(app):
    """(rule, method) for every console route that changes something; ids filled with 1."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("console."):
            continue
        for method in sorted(rule.methods & WRITES):
            path = re.sub(r"<(?:[^:>]+:)?[^>]+>", "1", rule.rule)
            found.append((path, method))
    return found


@pytest.fixture
def reviewer(client, world):
    assert log_in(client, world.reviewer_a).status_code == 302
    return client


def footprint():
    return (
        db.session.scalar(db.select(db.func.count()).select_from(AuditEvent)),
        db.session.scalar(db.select(db.func.count()).select_from(CheckinReview)),
        db.session.scalar(
            db.select(db.func.count())
            .select_from(AuthSession)
            .where(AuthSession.revoked_at.is_not(None))
        ),
    )


def test_the_sweep_sees_the_console_forms(app):
    paths = {path for path, _ in console_writes(app)}
    # If these are missing, the sweep below tests nothing.
    assert {"/console/login", "/console/logout"} <= paths
    assert any("/reviews" in path for path in paths) and len(paths) >= 6


@pytest.mark.parametrize("sent", [None, "", "forged-token-0123456789"])
def test_every_console_write_without_the_csrf_token_is_refused_and_changes_nothing(
    app, reviewer, sent
):
    real = token(reviewer)
    before = footprint()
    for path, method in console_writes(app):
        form = {"reason": "理由", "decision": "rejected", "note": "x"}
        if sent is not None:
            form["csrf_token"] = sent
        response = reviewer.open(path, method=method, data=form)
        assert response.status_code == 400, (method, path, response.status_code)
        assert "csrf_failed" in response.get_data(as_text=True), (method, path)
    assert footprint() == before
    # The real token still works afterwards: the refusals did not end the session.
    assert reviewer.post("/console/logout", data={"csrf_token": real}).status_code == 302


def test_a_token_from_another_session_is_refused(app, client, world):
    assert log_in(client, world.reviewer_a).status_code == 302
    other = app.test_client()
    assert log_in(other, world.reviewer_b).status_code == 302
    stolen = token(other)
    response = client.post("/console/logout", data={"csrf_token": stolen})
    assert response.status_code == 400


def assert_console_headers(response):
    csp = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_console_pages_errors_and_redirects_carry_the_security_headers(client, reviewer, world):
    answers = [
        client.get("/console/login"),
        reviewer.get("/console/"),
        reviewer.get("/console/flags"),
        reviewer.get("/console/ledger"),
        reviewer.get(f"/console/postings/{999999999}?month=2026-03"),  # no such posting
        reviewer.get("/console/no-such-page"),  # no such route
        reviewer.post("/console/logout", data={}),  # CSRF refusal
    ]
    assert [a.status_code for a in answers][-3:] == [404, 404, 400]
    for answer in answers:
        assert_console_headers(answer)
        assert "<script>" not in answer.get_data(as_text=True)  # no inline scripts at all


def test_api_answers_carry_nosniff_and_no_referrer_and_are_not_cached(client, make, world):
    for answer in (
        client.get("/api/v1/regions"),  # 401
        client.get("/api/v1/regions", headers=make.headers(world.cadre_a)),
        client.get("/api/v1/checkins/999999999", headers=make.headers(world.cadre_a)),
    ):
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert answer.headers["Cache-Control"] == "no-store"
        # Development and tests run on plain HTTP: no HSTS there.
        assert "Strict-Transport-Security" not in answer.headers


def test_production_pins_https_and_secures_the_console_cookie(app):
    assert ProductionConfig.HSTS_SECONDS == 365 * 24 * 3600
    assert ProductionConfig.SESSION_COOKIE_SECURE is True
    pinned = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        UPLOAD_DIR=app.config["UPLOAD_DIR"],
        HSTS_SECONDS=ProductionConfig.HSTS_SECONDS,
        SESSION_COOKIE_SECURE=True,
    )
    client = pinned.test_client()
    login_page = client.get("/console/login")  # the first visit sets the cookie
    for answer in (client.get("/healthz"), login_page):
        assert answer.headers["Strict-Transport-Security"] == (
            "max-age=31536000; includeSubDomains"
        )
    cookie = login_page.headers.get("Set-Cookie", "")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
