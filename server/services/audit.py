"""Append to and verify the hash-chained audit log.

Each event stores the hash of the one before it; the hash covers every field of the
event, so editing, deleting or reordering rows behind the application's back breaks
the chain at the first touched row.
"""

import hashlib
import json
from datetime import UTC

from flask import g, has_app_context
from sqlalchemy import text

from server import auth
from server.extensions import db
from server.models.audit import GENESIS_HASH, AuditEvent
from server.models.types import utcnow

# Any constant works; it names "the audit chain" among PostgreSQL advisory locks.
_CHAIN_LOCK = 7_263_001


def canonical_json(value):
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def hashed_fields(event):
    """Every field an event's hash covers, `at` exactly as hashed (the verifiers of
    published evidence recompute the hash from these)."""
    return {
        "seq": event.seq,
        "at": event.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": event.actor_id,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "summary": event.summary,
        "request_id": event.request_id,
        "prev_hash": event.prev_hash,
    }


def event_hash(event):
    return hashlib.sha256(canonical_json(hashed_fields(event)).encode()).hexdigest()


def _lock_chain():
    """Serialize appends so two transactions never read the same predecessor. Held to
    the end of the transaction."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK})


def try_lock_chain():
    """_lock_chain without waiting: False if another transaction holds it. For a writer
    that already holds row locks (retention.py): waiting there could close a cycle with
    a writer that took the chain first and waits for those rows."""
    if db.session.get_bind().dialect.name != "postgresql":
        return True  # SQLite: the transaction began IMMEDIATE, writers take turns already
    query = text("SELECT pg_try_advisory_xact_lock(:key)")
    return bool(db.session.execute(query, {"key": _CHAIN_LOCK}).scalar())


def record(action, obj=None, *, actor=None, object_type=None, object_id=None, summary=None):
    """Add an audit event to the current transaction; the caller commits."""
    _lock_chain()
    last = db.session.execute(
        db.select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    event = AuditEvent(
        seq=(last.seq + 1) if last else 1,
        at=utcnow(),
        actor_id=actor.id if actor is not None else None,
        action=action,
        object_type=object_type or (obj.__tablename__ if obj is not None else "system"),
        object_id=str(object_id if object_id is not None else getattr(obj, "id", "")) or None,
        summary=json.loads(canonical_json(summary or {})),
        request_id=g.get("request_id") if has_app_context() else None,
        prev_hash=last.hash if last else GENESIS_HASH,
    )
    event.hash = event_hash(event)
    db.session.add(event)
    return event


def verify_chain():
    """Recompute the chain. Returns (events checked, first broken seq or None, reason)."""
    expected_prev, expected_seq, count = GENESIS_HASH, 1, 0
    rows = db.session.execute(db.select(AuditEvent).order_by(AuditEvent.seq)).scalars()
    for event in rows.yield_per(1000):
        count += 1
        if event.seq != expected_seq:
            return count, expected_seq, f"event {expected_seq} is missing"
        if event.prev_hash != expected_prev:
            return count, event.seq, "prev_hash does not match the previous event"
        if event_hash(event) != event.hash:
            return count, event.seq, "content does not match its hash"
        expected_prev, expected_seq = event.hash, event.seq + 1
    return count, None, None


def changes(obj, data):
    """The {field: [old, new]} summary of an update, for the audit log."""
    diff = {}
    for key, new in data.items():
        old = getattr(obj, key, None)
        if old != new:
            diff[key] = [_plain(old), _plain(new)]
    return diff


def _plain(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, list | tuple | set):
        return sorted(_plain(v) for v in value)
    return value


def list_(*, actor, action=None, object_type=None, object_id=None, actor_id=None):
    stmt = auth.scoped(db.select(AuditEvent), AuditEvent, actor)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if object_type:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    if actor_id is not None:
        stmt = stmt.where(AuditEvent.actor_id == actor_id)
    return stmt.order_by(AuditEvent.seq.desc())


def head():
    """(seq, hash) of the newest event. A chain can only prove what lies below a head
    recorded somewhere else: deleting the newest events leaves a valid shorter chain, so
    operators write the head down (a ledger, a report, a draw's publication)."""
    row = db.session.execute(
        db.select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    return (row.seq, row.hash) if row else (0, GENESIS_HASH)


def check_recorded_head(seq, expected_hash):
    """None if event `seq` still has the hash recorded earlier, else what is wrong."""
    event = db.session.get(AuditEvent, seq)
    if event is None:
        return f"event {seq} recorded earlier is gone (the log was cut short)"
    if event.hash != expected_hash:
        return f"event {seq} no longer has the hash recorded earlier"
    return None


def verification():
    count, broken, reason = verify_chain()
    seq, digest = head()
    return {
        "ok": broken is None,
        "events": count,
        "first_broken_seq": broken,
        "reason": reason,
        "head_seq": seq,
        "head_hash": digest,
    }
