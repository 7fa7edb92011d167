"""Privacy in logs: a full scenario over HTTP (log-ins right and wrong, a lock-out, token
refreshes and a replayed one, a check-in with a photo, an unexpected error, a reviewer's
ledger, log-out) leaves no phone number, token, password or Authorization header in the
log, while the security events operators need are there with masked phone numbers.

The log is captured as production writes it: the project's JSON formatter and filter on
the root logger, at INFO."""

import io
import json
import logging
import socket
import subprocess

import pytest
from sqlalchemy.exc import IntegrityError

from config import BASE_DIR, CONFIGS
from server.extensions import db
from server.logging import JsonFormatter, RequestIdFilter
from server.models import User
from server.redaction import mask_phone
from server.services import users
from tests.api.checkin_kit import submit
from tests.api.test_auth import bearer, login
from tests.factories import PASSWORD
from tests.test_platform import assert_error
from tests.test_production import BIN, free_port, production_env, wait_until_serving
from tests.web.console_kit import log_in as console_log_in

WRONG = "wrong-pass-123"
UNKNOWN_PHONE = "13712340000"
ATTACKER = "203.0.113.7"


@pytest.fixture
def captured():
    """The JSON lines logged during the test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)  # the testing config logs WARNING and above only
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def from_attacker(client, phone, password):
    return client.post(
        "/api/v1/auth/login",
        json={"phone": phone, "password": password, "device_id": "phone-x"},
        environ_base={"REMOTE_ADDR": ATTACKER},
    )


def tokens_of(response):
    assert response.status_code == 200, response.json
    return [response.json["access_token"], response.json["refresh_token"]]


def refresh(client, token):
    return client.post("/api/v1/auth/refresh", json={"refresh_token": token})


def run_scenario(client, world, monkeypatch):
    """Everything a day brings; returns the tokens handed out along the way."""
    cadre, victim, reviewer = world.cadre_a, world.cadre_b, world.reviewer_a
    assert_error(login(client, cadre, password=WRONG), 401, "invalid_credentials")
    assert_error(from_attacker(client, UNKNOWN_PHONE, WRONG), 401, "invalid_credentials")
    assert console_log_in(client, cadre, password=WRONG).status_code == 401
    for _ in range(5):  # the fifth locks the number
        assert_error(from_attacker(client, victim.phone, WRONG), 401, "invalid_credentials")
    assert_error(from_attacker(client, victim.phone, PASSWORD), 401, "invalid_credentials")

    first = tokens_of(login(client, cadre))
    second = tokens_of(refresh(client, first[1]))
    replay = refresh(client, first[1])  # a copied refresh token: the family is revoked
    assert_error(replay, 401, "refresh_token_reused")
    third = tokens_of(login(client, cadre))
    assert submit(client, bearer(third[0])).status_code == 201

    # Something goes wrong deep inside, and the error's text quotes a phone and a token.
    def fails(**kwargs):
        raise RuntimeError(f"profile of {cadre.phone} failed; Authorization: Bearer {third[0]}")

    monkeypatch.setattr(users, "profile", fails)
    assert_error(client.get("/api/v1/me", headers=bearer(third[0])), 500, "internal_error")
    monkeypatch.undo()

    for_reviewer = tokens_of(login(client, reviewer))
    ledger = client.get(
        "/api/v1/attendance", query_string={"month": "2026-03"}, headers=bearer(for_reviewer[0])
    )
    assert ledger.status_code == 200, ledger.json
    assert client.post("/api/v1/auth/logout", headers=bearer(third[0])).status_code == 204
    return first + second + third + for_reviewer


def lines_of(captured):
    text = captured.getvalue()
    return text, [json.loads(line) for line in text.splitlines()]


def events(lines, name):
    return [line for line in lines if line.get("event") == name]


def test_a_full_scenario_leaves_no_secret_in_the_log(client, world, monkeypatch, captured):
    tokens = run_scenario(client, world, monkeypatch)
    text, lines = lines_of(captured)  # every line is JSON
    phones = db.session.execute(db.select(User.phone)).scalars().all()
    assert len(phones) == 8
    for phone in [*phones, UNKNOWN_PHONE]:
        assert phone not in text
    for token in tokens:
        assert token not in text
        assert token.split(".")[2] not in text  # not even its signature
    assert PASSWORD not in text and WRONG not in text
    assert "Bearer ey" not in text
    # The scenario did log: requests, and the unexpected error with its masked text.
    assert len([line for line in lines if line["logger"] == "server.access"]) > 15
    (crash,) = [line for line in lines if line["message"] == "unhandled error"]
    assert f"profile of {mask_phone(world.cadre_a.phone)} failed" in crash["exception"]
    assert "Authorization: ***" in crash["exception"]


def test_security_events_are_logged_with_masked_phones(client, world, monkeypatch, captured):
    run_scenario(client, world, monkeypatch)
    _, lines = lines_of(captured)
    cadre, victim = world.cadre_a, world.cadre_b
    failed = events(lines, "login_failed")
    assert [(line["phone"], line["reason"]) for line in failed] == [
        (mask_phone(cadre.phone), "wrong_password"),
        (mask_phone(UNKNOWN_PHONE), "unknown_phone"),
        (mask_phone(cadre.phone), "wrong_password"),  # the console's form
        *[(mask_phone(victim.phone), "wrong_password")] * 5,
        (mask_phone(victim.phone), "locked"),
    ]
    assert {line["client"] for line in failed[3:]} == {ATTACKER}
    assert all(line["level"] == "WARNING" and line["request_id"] for line in failed)
    (lockout,) = events(lines, "login_lockout")
    assert lockout["phone"] == mask_phone(victim.phone) and lockout["seconds"] == 60
    assert lockout["client"] == ATTACKER
    (reuse,) = events(lines, "refresh_reuse")
    assert reuse["user_id"] == cadre.id and reuse["level"] == "WARNING"
    (logout,) = events(lines, "logout")
    assert logout["user_id"] == cadre.id
    logins = events(lines, "login")
    assert [line["user_id"] for line in logins] == [cadre.id, cadre.id, world.reviewer_a.id]


def test_database_errors_reach_the_log_without_values(world, make, captured):
    assert all(config.SQLALCHEMY_ENGINE_OPTIONS["hide_parameters"] for config in CONFIGS.values())
    assert db.engine.hide_parameters
    phone = world.cadre_a.phone
    with pytest.raises(IntegrityError) as caught:
        with db.session.begin_nested():
            make.user("cadre", phone=phone)
    assert "SQL parameters hidden" in str(caught.value)
    logging.getLogger("server.test").error("insert failed", exc_info=caught.value)
    text = captured.getvalue()
    assert "SQL parameters hidden" in text and phone not in text
    if db.engine.dialect.name == "postgresql":
        # PostgreSQL's own detail quotes the key whatever SQLAlchemy hides:
        # "Key (phone)=(13900000001) already exists." The formatter masks it.
        assert f"Key (phone)=({mask_phone(phone)}) already exists" in text


def test_gunicorn_masks_a_request_it_cannot_parse(tmp_path):
    """gunicorn quotes such a request line, query string and all, in its error log."""
    port = free_port()
    env = production_env(
        tmp_path, f"sqlite:///{tmp_path / 'x.db'}", BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1"
    )
    server = subprocess.Popen(
        [BIN / "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/healthz", server)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(f"GET /x?phone=13800000001&token={token}\r\n\r\n".encode())
            assert raw.recv(64).startswith(b"HTTP/1.1 400")
    finally:
        server.terminate()
        _, err = server.communicate(timeout=60)
    assert "Invalid HTTP request line: 'GET /x?phone=138****0001&token=***'" in err
    assert "13800000001" not in err and token not in err
