"""Rate limits: log-ins per phone and per address, refreshes per address, uploads per
user; 429 `rate_limited` in the error shape with Retry-After. Every test runs on the
in-memory store and again on Redis (REDIS_URL for tests: TEST_REDIS_URL, default
database 15), each test with a key prefix of its own that it deletes afterwards.

Without Redis the Redis runs skip, unless REQUIRE_REDIS is set (CI sets it)."""

import os
import uuid

import pytest
from limits import parse_many

from config import TestingConfig
from server import create_app
from server.extensions import db, limiter
from server.models import AuthSession
from tests.factories import PASSWORD
from tests.test_platform import assert_error
from tests.web.console_kit import log_in as console_log_in

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SMALL = {
    "RATE_LIMIT_LOGIN_PER_PHONE": "3 per minute",
    "RATE_LIMIT_LOGIN_PER_ADDRESS": "5 per minute",
    "RATE_LIMIT_REFRESH_PER_ADDRESS": "4 per minute",
    "RATE_LIMIT_UPLOADS_PER_USER": "3 per minute",
}
SWITCHES = ("RATE_LIMITS_ENABLED", "RATELIMIT_STORAGE_URI", "RATELIMIT_STORAGE_OPTIONS")


def redis_client():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("REQUIRE_REDIS"):
            pytest.fail(f"REQUIRE_REDIS is set but Redis does not answer at {REDIS_URL}")
        pytest.skip(f"Redis does not answer at {REDIS_URL}")
    return client


@pytest.fixture(params=["memory", "redis"])
def limits(request, app):
    """The real limits (small numbers) for this test, on the chosen store; the suite's
    switched-off limiter is put back afterwards."""
    prefix = f"cadre-test-{uuid.uuid4().hex[:12]}"
    store = {"memory": "memory://", "redis": REDIS_URL, "redis-down": "redis://127.0.0.1:1/0"}
    client = redis_client() if request.param == "redis" else None
    saved = {key: app.config[key] for key in (*SWITCHES, *SMALL)}
    app.config.update(
        SMALL,
        RATE_LIMITS_ENABLED=True,
        RATELIMIT_STORAGE_URI=store[request.param],
        RATELIMIT_STORAGE_OPTIONS={"key_prefix": prefix},
    )
    # Flask-Limiter keeps "the store is down" across init_app; a new store starts alive.
    limiter._storage_dead = False
    limiter.init_app(app)
    try:
        yield client, prefix
    finally:
        if client is not None:
            keys = list(client.scan_iter(f"{prefix}*"))
            if keys:
                client.delete(*keys)
            client.close()
        app.config.update(saved)
        limiter._storage_dead = False
        limiter.init_app(app)


def from_address(address):
    return {"environ_base": {"REMOTE_ADDR": address}}


def login(client, user, address="127.0.0.1"):
    body = {"phone": user.phone, "password": PASSWORD, "device_id": "phone-1"}
    return client.post("/api/v1/auth/login", json=body, **from_address(address))


def assert_rate_limited(response):
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_the_configured_limits_parse():
    from config import Config

    for name in SMALL:
        assert parse_many(getattr(Config, name))


def test_the_suite_runs_without_limits(client, world):
    # TestingConfig switches them off: more log-ins than any per-phone limit allows.
    for _ in range(12):
        assert login(client, world.cadre_a).status_code == 200


def test_log_ins_per_phone(client, world, limits):
    for _ in range(3):
        assert login(client, world.cadre_a).status_code == 200
    refused = login(client, world.cadre_a)
    assert_rate_limited(refused)
    # Refused before the password is looked at: no log-in was made.
    assert len(db.session.execute(db.select(AuthSession)).all()) == 3
    # Other numbers from the same address go on.
    assert login(client, world.cadre_b).status_code == 200


def test_an_unknown_phone_is_limited_like_a_known_one(client, world, make, limits):
    stranger = make.user("cadre", phone="13811112222")
    db.session.delete(stranger)
    answers = [login(client, stranger).status_code for _ in range(4)]
    assert answers == [401, 401, 401, 429]


def test_log_ins_per_address(client, world, make, limits):
    people = [make.user("cadre") for _ in range(6)]
    db.session.commit()
    for person in people[:5]:
        assert login(client, person, "192.0.2.1").status_code == 200
    assert_rate_limited(login(client, people[5], "192.0.2.1"))
    assert login(client, people[5], "192.0.2.2").status_code == 200


def test_malformed_phones_share_one_budget_per_address(client, world, limits):
    # Otherwise every variant of a number ("+86 ...", spaces) would get a budget of its own.
    for junk in ("+86 13800000000", "138 0000 0000", "not a phone"):
        body = {"phone": junk, "password": "x", "device_id": "d"}
        assert client.post("/api/v1/auth/login", json=body).status_code == 422
    body = {"phone": "1380000000", "password": "x", "device_id": "d"}
    assert_rate_limited(client.post("/api/v1/auth/login", json=body))
    assert login(client, world.cadre_a).status_code == 200


def test_the_api_and_the_console_share_the_per_phone_budget(client, world, limits):
    assert login(client, world.reviewer_a).status_code == 200
    assert login(client, world.reviewer_a).status_code == 200
    assert console_log_in(client, world.reviewer_a).status_code == 302
    browser = client.application.test_client()  # not logged in, so it gets the form
    page = console_log_in(browser, world.reviewer_a)
    assert page.status_code == 429
    assert 1 <= int(page.headers["Retry-After"]) <= 60
    assert "请求过于频繁" in page.get_data(as_text=True)
    assert_rate_limited(login(client, world.reviewer_a))


def test_refreshes_per_address(client, world, limits):
    tokens = login(client, world.cadre_a).json
    for _ in range(4):
        response = client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert response.status_code == 200
        tokens = response.json
    body = {"refresh_token": tokens["refresh_token"]}
    assert_rate_limited(client.post("/api/v1/auth/refresh", json=body))
    # The token was not spent by the refused attempt: it works from elsewhere.
    elsewhere = client.post("/api/v1/auth/refresh", json=body, **from_address("192.0.2.9"))
    assert elsewhere.status_code == 200


def test_uploads_per_user_check_ins_and_batches_together(client, world, make, limits):
    cadre_a, cadre_b = make.headers(world.cadre_a), make.headers(world.cadre_b)
    # Counted before the upload is even parsed, so empty forms do.
    assert client.post("/api/v1/checkins", data={}, headers=cadre_a).status_code == 422
    assert client.post("/api/v1/checkins/batch", data={}, headers=cadre_a).status_code == 422
    assert client.post("/api/v1/checkins", data={}, headers=cadre_a).status_code == 422
    assert_rate_limited(client.post("/api/v1/checkins/batch", data={}, headers=cadre_a))
    assert_rate_limited(client.post("/api/v1/checkins", data={}, headers=cadre_a))
    # Per user, not per address.
    assert client.post("/api/v1/checkins", data={}, headers=cadre_b).status_code == 422
    # Reading is not uploading.
    assert client.get("/api/v1/checkins", headers=cadre_a).status_code == 200


def test_no_token_is_401_not_a_spent_upload(client, world, make, limits):
    for _ in range(4):
        assert client.post("/api/v1/checkins", data={}).status_code == 401
    headers = make.headers(world.cadre_a)
    assert client.post("/api/v1/checkins", data={}, headers=headers).status_code == 422


def test_retry_after_only_on_the_429(client, world, limits):
    response = login(client, world.cadre_a)
    assert response.status_code == 200
    assert "Retry-After" not in response.headers
    assert response.headers["X-RateLimit-Remaining"].isdigit()


@pytest.mark.parametrize("limits", ["redis"], indirect=True)
def test_the_counters_are_in_redis_under_our_prefix(client, world, limits):
    redis, prefix = limits
    login(client, world.cadre_a)
    keys = [key.decode() for key in redis.scan_iter(f"{prefix}*")]
    assert keys
    # Keyed by a hash of the number: no phone numbers in the store.
    assert not any(world.cadre_a.phone in key for key in keys)


@pytest.mark.parametrize("limits", ["redis-down"], indirect=True)
def test_with_redis_down_each_process_counts_in_memory(client, world, limits):
    answers = [login(client, world.cadre_a).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]


def test_the_limits_are_in_the_openapi_spec(client):
    spec = client.get("/api/openapi.json").json
    paths = (
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/checkins",
        "/api/v1/checkins/batch",
    )
    for path in paths:
        documented = spec["paths"][path]["post"]["responses"]["429"]
        assert "Retry-After" in documented["headers"]
        ref = documented["content"]["application/json"]["schema"]["$ref"]
        assert ref.split("/")[-1] in spec["components"]["schemas"]
    assert "429" not in spec["paths"]["/api/v1/checkins"]["get"]["responses"]


@pytest.mark.parametrize("limits", ["memory"], indirect=True)
def test_behind_a_proxy_the_forwarded_client_address_counts(app, world, limits, tmp_path):
    proxied = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        UPLOAD_DIR=str(tmp_path),
        TRUSTED_PROXIES=1,
        RATE_LIMITS_ENABLED=True,
        **SMALL,
    )
    try:
        client = proxied.test_client()
        people = [world.cadre_a, world.cadre_b, world.aid_cadre_a, world.admin, world.inspector_a]

        def via_proxy(user, client_address):
            body = {"phone": user.phone, "password": PASSWORD, "device_id": "d"}
            headers = {"X-Forwarded-For": client_address}
            return client.post("/api/v1/auth/login", json=body, headers=headers)

        for person in people:
            assert via_proxy(person, "198.51.100.7").status_code == 200
        assert_rate_limited(via_proxy(world.reviewer_a, "198.51.100.7"))
        # Same load balancer, another phone behind it: a budget of its own.
        assert via_proxy(world.reviewer_a, "198.51.100.8").status_code == 200
    finally:
        with proxied.app_context():
            db.engine.dispose()
