"""Growing lock-out of a phone number after failed log-ins.

Counted per number typed, whether or not anyone has it: a made-up number is counted,
locked and answered exactly like a real one, so neither the answers nor the work done
tell which numbers exist. While locked, every log-in with the number is refused with
the wrong-password answer, and is not counted (a lock-out cannot be stretched by
hammering it). These helpers add to the caller's transaction; sessions.login commits.
"""

import logging
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from server.extensions import db
from server.models import LoginLockout
from server.models.types import utcnow
from server.redaction import mask_phone
from server.services import audit

log = logging.getLogger(__name__)


def is_locked(phone):
    until = db.session.execute(
        db.select(LoginLockout.locked_until).where(LoginLockout.phone == phone)
    ).scalar_one_or_none()
    return until is not None and until > utcnow()


def record_failure(phone, *, user, config):
    """Count a failed log-in; the one that reaches the threshold locks the number (and is
    audited). Returns the lock-out's length in seconds, or None."""
    now = utcnow()
    row = _row_for_update(phone) or _insert(phone, now, config)
    if row.last_failure_at < now - config["LOGIN_FAILURES_FORGOTTEN_AFTER"]:
        row.failures, row.lockouts = 0, 0
    row.failures += 1
    row.last_failure_at = now
    if row.failures < config["LOGIN_LOCKOUT_AFTER"]:
        return None
    seconds = min(
        config["LOGIN_LOCKOUT_SECONDS"] * 2 ** min(row.lockouts, 30),
        config["LOGIN_LOCKOUT_MAX_SECONDS"],
    )
    row.locked_until = now + timedelta(seconds=seconds)
    row.lockouts += 1
    row.failures = 0
    audit.record(
        "auth.lockout",
        user,
        object_type="user" if user is not None else "login_lockout",
        summary={"phone": mask_phone(phone), "seconds": seconds, "lockouts": row.lockouts},
    )
    log.warning(
        "log-in lock-out started",
        extra={
            "event": "login_lockout",
            "phone": mask_phone(phone),
            "seconds": seconds,
            "lockouts": row.lockouts,
        },
    )
    return seconds


def clear(phone):
    """A successful log-in, or a password set by an administrator, ends the history."""
    db.session.execute(db.delete(LoginLockout).where(LoginLockout.phone == phone))


def _row_for_update(phone):
    # Two failures at once must not both read the same count.
    return db.session.execute(
        db.select(LoginLockout)
        .where(LoginLockout.phone == phone)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _insert(phone, now, config):
    # Made-up numbers get rows too; those quiet for the forgetting period go, so the
    # table holds about a day of failing numbers whatever an attacker types.
    db.session.execute(
        db.delete(LoginLockout).where(
            LoginLockout.last_failure_at < now - config["LOGIN_FAILURES_FORGOTTEN_AFTER"],
            (LoginLockout.locked_until.is_(None)) | (LoginLockout.locked_until < now),
        )
    )
    try:
        with db.session.begin_nested():
            row = LoginLockout(phone=phone, failures=0, lockouts=0, last_failure_at=now)
            db.session.add(row)
        return row
    except IntegrityError:
        # The first two failures of a number arrived together: take the winner's row.
        return _row_for_update(phone)
