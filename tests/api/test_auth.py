"""Log-in, refresh-token rotation with reuse detection, log-out, and /me."""

from datetime import timedelta

import jwt
import pytest

from server.extensions import db
from server.models import AuditEvent, AuthSession, Device
from server.models.types import utcnow
from tests.factories import PASSWORD
from tests.test_platform import assert_error


def login(client, user, password=PASSWORD, device="phone-1"):
    return client.post(
        "/api/v1/auth/login",
        json={"phone": user.phone, "password": password, "device_id": device},
    )


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_login_returns_tokens_and_records_the_device(client, world):
    response = login(client, world.cadre_a, device="huawei-p60-abc")
    assert response.status_code == 200
    body = response.json
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 15 * 60
    assert client.get("/api/v1/me", headers=bearer(body["access_token"])).status_code == 200
    device = db.session.execute(
        db.select(Device).where(Device.user_id == world.cadre_a.id)
    ).scalar_one()
    assert device.device_id == "huawei-p60-abc"
    event = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "auth.login")
    ).scalar_one()
    assert event.actor_id == world.cadre_a.id


def test_second_login_from_same_device_updates_last_seen(client, world):
    login(client, world.cadre_a)
    first = db.session.execute(db.select(Device.last_seen_at)).scalar_one()
    login(client, world.cadre_a)
    devices = db.session.execute(db.select(Device)).scalars().all()
    assert len(devices) == 1 and devices[0].last_seen_at >= first


def test_wrong_password_and_unknown_phone_get_the_same_answer(client, world, make):
    wrong = login(client, world.cadre_a, password="not-the-password-1")
    stranger = make.user("cadre", phone="13811112222")
    db.session.delete(stranger)
    unknown = login(client, stranger)
    assert_error(wrong, 401, "invalid_credentials")
    assert_error(unknown, 401, "invalid_credentials")
    assert wrong.json == unknown.json


def test_user_without_password_cannot_log_in(client, make):
    imported = make.user("cadre", password=None)
    assert_error(login(client, imported, password="anything-1"), 401, "invalid_credentials")


def test_disabled_account_cannot_log_in(client, make):
    disabled = make.user("cadre", active=False)
    assert_error(login(client, disabled), 403, "account_disabled")


def test_refresh_rotates_the_refresh_token(client, world):
    first = login(client, world.cadre_a).json
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert second.json["refresh_token"] != first["refresh_token"]
    third = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second.json["refresh_token"]}
    )
    assert third.status_code == 200


def test_reused_refresh_token_revokes_the_whole_family(client, world):
    first = login(client, world.cadre_a).json
    rotated = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    ).json
    # An attacker replays the first refresh token: refused, and the family dies.
    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_error(replay, 401, "refresh_token_reused")
    legit = client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert_error(legit, 401, "session_revoked")
    assert_error(
        client.get("/api/v1/me", headers=bearer(rotated["access_token"])), 401, "session_revoked"
    )
    session = db.session.execute(db.select(AuthSession)).scalar_one()
    assert session.revoked_reason == "refresh_reuse"


def test_logout_revokes_access_and_refresh_tokens(client, world):
    tokens = login(client, world.cadre_a).json
    other_device = login(client, world.cadre_a, device="tablet").json
    assert (
        client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"])).status_code
        == 204
    )
    assert_error(
        client.get("/api/v1/me", headers=bearer(tokens["access_token"])), 401, "session_revoked"
    )
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert_error(refreshed, 401, "session_revoked")
    # Other log-ins of the same person are not affected.
    assert client.get("/api/v1/me", headers=bearer(other_device["access_token"])).status_code == 200


def test_access_token_cannot_be_used_to_refresh(client, world):
    tokens = login(client, world.cadre_a).json
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["access_token"]})
    assert_error(response, 401, "invalid_token")


def test_refresh_token_cannot_be_used_as_access_token(client, world):
    tokens = login(client, world.cadre_a).json
    assert_error(
        client.get("/api/v1/me", headers=bearer(tokens["refresh_token"])), 401, "invalid_token"
    )


def test_expired_access_token_is_refused(client, world, app):
    tokens = login(client, world.cadre_a).json
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    claims["exp"] = int((utcnow() - timedelta(minutes=1)).timestamp())
    expired = jwt.encode(claims, app.config["SECRET_KEY"], algorithm="HS256")
    assert_error(client.get("/api/v1/me", headers=bearer(expired)), 401, "token_expired")


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer " + "a.b.c"],
)
def test_malformed_authorization_is_401(client, header):
    response = client.get("/api/v1/me", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.json["error"] in {"unauthorized", "invalid_token"}


def test_token_signed_with_another_key_is_refused(client, world):
    tokens = login(client, world.cadre_a).json
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    forged = jwt.encode(claims, "another-secret-key-of-sufficient-length", algorithm="HS256")
    assert_error(client.get("/api/v1/me", headers=bearer(forged)), 401, "invalid_token")


def test_disabling_a_user_ends_their_access(client, world, make):
    tokens = login(client, world.cadre_a).json
    world.cadre_a.active = False
    db.session.flush()
    assert_error(
        client.get("/api/v1/me", headers=bearer(tokens["access_token"])), 401, "invalid_token"
    )
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert_error(refreshed, 403, "account_disabled")


def test_me_shows_roles_jurisdiction_and_postings(client, world, make):
    me = client.get("/api/v1/me", headers=make.headers(world.cadre_a)).json
    assert me["roles"] == ["cadre"]
    assert me["active_posting"]["id"] == world.posting_a.id
    assert [p["id"] for p in me["postings"]] == [world.posting_a.id]
    assert "password" not in me and "password_hash" not in me
    assert me["has_password"] is True

    reviewer = client.get("/api/v1/me", headers=make.headers(world.reviewer_a)).json
    assert reviewer["jurisdiction_code"] == "340421000000"
    assert reviewer["active_posting"] is None


def test_paired_aid_posting_is_listed_but_not_the_resident_posting(client, world, make):
    make.posting(world.aid_cadre_a, world.village_a2, world.unit_a, role="paired_aid")
    me = client.get("/api/v1/me", headers=make.headers(world.aid_cadre_a)).json
    assert me["active_posting"] is None
    assert [p["role"] for p in me["postings"]] == ["paired_aid"]
