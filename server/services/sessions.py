"""Log-in sessions: log in, rotate refresh tokens, log out.

A session is the family of refresh tokens born from one log-in. Each refresh token
works once; presenting a used one means it was copied, so the whole family is revoked.
"""

import logging
import secrets

from sqlalchemy.exc import IntegrityError

from server import auth
from server.errors import Forbidden, Unauthorized
from server.extensions import db
from server.models import AuthSession, Device, RefreshToken, User
from server.models.types import utcnow
from server.redaction import mask_phone
from server.services import audit, lockouts

# Security events for operators: who is being attacked and from where (the formatter adds
# the client's address), with phone numbers masked.
log = logging.getLogger(__name__)


def _bad_credentials():
    # Same answer for an unknown phone and a wrong password.
    return Unauthorized(
        "invalid_credentials", "Wrong phone number or password.", "手机号或密码错误。"
    )


def record_device(user, device_id):
    now = utcnow()
    device = db.session.execute(
        db.select(Device).where(Device.user_id == user.id, Device.device_id == device_id)
    ).scalar_one_or_none()
    if device is None:
        # Two first log-ins from one phone at once: the loser of the race reads the
        # winner's row instead of failing.
        try:
            with db.session.begin_nested():
                device = Device(user_id=user.id, device_id=device_id, first_seen_at=now)
                db.session.add(device)
        except IntegrityError:
            device = db.session.execute(
                db.select(Device).where(Device.user_id == user.id, Device.device_id == device_id)
            ).scalar_one()
    device.last_seen_at = now
    return device


def _issue(user, session, config):
    now = utcnow()
    refresh_expires = now + config["REFRESH_TOKEN_TTL"]
    jti = auth.new_token_id()
    db.session.add(RefreshToken(jti=jti, session_id=session.id, expires_at=refresh_expires))
    return {
        "access_token": auth.encode_token(
            user.id, session.id, "access", now + config["ACCESS_TOKEN_TTL"]
        ),
        "refresh_token": auth.encode_token(user.id, session.id, "refresh", refresh_expires, jti),
        "token_type": "Bearer",
        "expires_in": int(config["ACCESS_TOKEN_TTL"].total_seconds()),
        "refresh_expires_in": int(config["REFRESH_TOKEN_TTL"].total_seconds()),
    }


# A hash of a random password per argon2 setting, verified when there is no real hash:
# the same parameters cost the same time.
_DUMMY_HASHES = {}


def _dummy_hash(config):
    params = (config["ARGON2_TIME_COST"], config["ARGON2_MEMORY_COST"])
    if params not in _DUMMY_HASHES:
        _DUMMY_HASHES[params] = auth.hash_password(secrets.token_urlsafe(16))
    return _DUMMY_HASHES[params]


def verify_password(user, password, config):
    """One argon2 verification whatever the case (unknown phone, no password yet, wrong
    or right password): the time taken tells nothing about which it was."""
    if user is None or user.password_hash is None:
        auth.check_password(_dummy_hash(config), password)
        return False
    return auth.check_password(user.password_hash, password)


def login(*, phone, password, device_id, config):
    user = db.session.execute(db.select(User).where(User.phone == phone)).scalar_one_or_none()
    locked = lockouts.is_locked(phone)
    if not verify_password(user, password, config) or locked:
        if not locked:
            lockouts.record_failure(phone, user=user, config=config)
            db.session.commit()
        _log_failure(phone, user, "locked" if locked else _failure_reason(user))
        # A locked number gets the wrong-password answer too, even with the right one.
        raise _bad_credentials()
    lockouts.clear(phone)
    if not user.active:
        _log_failure(phone, user, "account_disabled")
        raise Forbidden("account_disabled", "This account is disabled.", "该账号已停用。")
    record_device(user, device_id)
    session = AuthSession(id=auth.new_token_id(), user_id=user.id, device_id=device_id)
    db.session.add(session)
    tokens = _issue(user, session, config)
    audit.record(
        "auth.login", user, actor=user, object_type="user", summary={"device_id": device_id}
    )
    db.session.commit()
    log.info("logged in", extra={"event": "login", "phone": mask_phone(phone), "user_id": user.id})
    return tokens


def _failure_reason(user):
    if user is None:
        return "unknown_phone"
    return "no_password" if user.password_hash is None else "wrong_password"


def _log_failure(phone, user, reason):
    # The reason stays in the log: the caller is told only "wrong phone or password".
    log.warning(
        "log-in failed",
        extra={
            "event": "login_failed",
            "phone": mask_phone(phone),
            "reason": reason,
            "user_id": user.id if user is not None else None,
        },
    )


def refresh(*, refresh_token, config):
    claims = auth.decode_token(refresh_token, "refresh")
    # Lock the token row so two simultaneous refreshes cannot both succeed.
    token = db.session.execute(
        db.select(RefreshToken).where(RefreshToken.jti == claims["jti"]).with_for_update()
    ).scalar_one_or_none()
    session = db.session.get(AuthSession, claims["sid"])
    if token is None or session is None or token.session_id != session.id:
        raise Unauthorized("invalid_token", "The token is invalid.", "令牌无效。")
    if session.revoked_at is not None:
        raise Unauthorized("session_revoked", "This log-in has ended.", "登录已失效，请重新登录。")
    user = db.session.get(User, session.user_id)
    if token.used_at is not None:
        _revoke(session, "refresh_reuse", actor=user)
        db.session.commit()
        log.warning(
            "refresh token reused: the log-in is revoked",
            extra={"event": "refresh_reuse", "user_id": user.id, "session_id": session.id},
        )
        raise Unauthorized(
            "refresh_token_reused",
            "This refresh token was already used; the log-in has been ended for safety.",
            "刷新令牌已被使用过，为安全起见已注销该登录。",
        )
    if not user.active:
        _revoke(session, "account_disabled", actor=user)
        db.session.commit()
        raise Forbidden("account_disabled", "This account is disabled.", "该账号已停用。")
    token.used_at = utcnow()
    tokens = _issue(user, session, config)
    db.session.commit()
    return tokens


def _revoke(session, reason, *, actor):
    session.revoked_at = utcnow()
    session.revoked_reason = reason
    audit.record(
        "auth.revoke", session, actor=actor, object_type="auth_session", summary={"reason": reason}
    )


def logout(*, actor, session_id):
    session = db.session.get(AuthSession, session_id)
    if session is not None and session.revoked_at is None:
        _revoke(session, "logout", actor=actor)
        db.session.commit()
        log.info("logged out", extra={"event": "logout", "user_id": actor.id})


def revoke_all(user, reason):
    """End every open log-in of `user` (the caller commits). Returns how many."""
    open_sessions = (
        db.session.execute(
            db.select(AuthSession).where(
                AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None)
            )
        )
        .scalars()
        .all()
    )
    now = utcnow()
    for session in open_sessions:
        session.revoked_at, session.revoked_reason = now, reason
    return len(open_sessions)
