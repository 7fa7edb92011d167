"""Random unannounced inspection draws: freeze, commit, execute, reveal, prove.

The algorithm itself lives in server/tools/drawing.py (standard library only), shared
with the stand-alone verifier; this module turns the database into a frame and the
result back into assignments. People appear in frames only as salted pseudonyms, so a
proof can be published to anyone; the salt is shown only inside the jurisdiction.
"""

import hashlib
import json
import secrets
from datetime import UTC, datetime

from sqlalchemy import insert

from server import auth
from server.errors import Conflict, Forbidden, Invalid, NotFound
from server.extensions import db
from server.models import (
    Assignment,
    Draw,
    Posting,
    Region,
    User,
    UserRole,
    assignment_inspector,
)
from server.models.regions import subtree_prefix
from server.services import audit, draw_frames, rollcalls
from server.services.lookups import region_by_code
from server.tools import drawing, rfc3797


def _now():
    return datetime.now(UTC)


# ---------------------------------------------------------------- the use cases


def create(*, actor, scope_code, kind, mode, window_start, window_end, beacon_spec, **params):
    scope = region_by_code(scope_code, "scope_code")
    auth.ensure_manages(actor, scope)
    if window_end <= window_start:
        raise Invalid(errors={"window_end": ["Must be after window_start."]})
    _refuse_beacon_reuse(scope, kind, beacon_spec)
    params["key_leave_days"] = draw_frames.key_leave_days(scope, params.get("key_leave_days"))
    salt = secrets.token_hex(32)
    draw = Draw(
        owner=actor,
        scope=scope,
        kind=kind,
        mode=mode,
        window_start=window_start,
        window_end=window_end,
        parameters=_jsonable(params),
        beacon_spec=beacon_spec,
        salt=salt,
        frame="",
        frame_hash="",
    )
    db.session.add(draw)
    db.session.flush()
    frame, targets, inspectors = draw_frames.build(draw.id, kind, scope, salt, params)
    drawing.validate_frame(frame)
    draw.frame = drawing.canonical_json(frame).decode()
    draw.frame_hash = hashlib.sha256(draw.frame.encode()).hexdigest()
    if mode == "commit-reveal":
        secret = secrets.token_bytes(32)
        draw.secret = secret.hex()
        draw.commitment = drawing.commitment(str(draw.id), draw.frame_hash, secret, beacon_spec)
    audit.record(
        "draw.commit",
        draw,
        actor=actor,
        summary={
            "scope": scope.code,
            "kind": kind,
            "mode": mode,
            "frame_hash": draw.frame_hash,
            "commitment": draw.commitment,
            "beacon_spec": beacon_spec,
            "targets": len(targets),
            "inspectors": len(inspectors),
        },
    )
    db.session.commit()
    return draw


def _refuse_beacon_reuse(scope, kind, beacon_spec):
    """One beacon, one draw: otherwise an owner could commit several draws to the same
    future value and execute only the one whose result they like."""
    spec = drawing.canonical_json(beacon_spec)
    others = db.session.execute(
        db.select(Draw).where(Draw.scope_id == scope.id, Draw.kind == kind)
    ).scalars()
    for other in others:
        if drawing.canonical_json(other.beacon_spec) == spec:
            raise Conflict(
                "beacon_already_used",
                f"Draw {other.id} already uses this beacon for this scope; name another.",
                "该地区已有抽签使用同一公开随机源，请另选。",
                errors={"draw_id": other.id},
            )


def execute(*, actor, draw_id, beacon_value=None, sources=None):
    draw = _managed(actor, draw_id)
    attempt = {"beacon_value": beacon_value, "sources": sources}
    if draw.status != "committed":
        _refuse(draw, actor, attempt, "already executed")
        raise Conflict(
            "draw_already_executed", "This draw was executed already.", "该抽签已执行，不能重抽。"
        )
    frame = json.loads(draw.frame)
    if draw.mode == "commit-reveal":
        if not beacon_value:
            _refuse(draw, actor, attempt, "no beacon value")
            raise Invalid(errors={"beacon_value": ["Required for a commit-reveal draw."]})
        seed = drawing.seed(str(draw.id), draw.frame_hash, beacon_value, bytes.fromhex(draw.secret))
        result = drawing.run(frame, seed)
        draw.beacon_value, draw.seed = beacon_value, seed.hex()
    else:
        if not sources:
            _refuse(draw, actor, attempt, "no public numbers")
            raise Invalid(errors={"sources": ["Required for an RFC 3797 draw."]})
        key = rfc3797.key_from_sources(sources)
        result = drawing.run_rfc3797(frame, key)
        draw.beacon_value = key
        draw.parameters = {**draw.parameters, "rfc3797_sources": sources}
    draw.result = result
    draw.status, draw.executed_at = "executed", _now()
    _assign(draw, result)
    if draw.kind == "rollcall":
        db.session.flush()
        rollcalls.issue(draw)
    audit.record(
        "draw.execute",
        draw,
        actor=actor,
        summary={
            **attempt,
            "picked": len(result["targets"]),
            "distribution_ok": result.get("distribution_ok"),
        },
    )
    db.session.commit()
    return draw


def _refuse(draw, actor, attempt, reason):
    """Every attempt is on the record, refused ones too: nobody re-draws quietly."""
    audit.record("draw.execute_refused", draw, actor=actor, summary={**attempt, "reason": reason})
    db.session.commit()


def _frame_people(draw):
    """Pseudonym -> (posting id, village id, cadre name, village code) for every posting
    in the draw's scope, whatever its status now, and pseudonym -> (user id, name) for
    inspectors: plain columns in two queries, since a province has tens of thousands."""
    prefix = subtree_prefix(draw.scope.code)
    postings = db.session.execute(
        db.select(Posting.id, Posting.village_id, User.name, Region.code)
        .join(User, User.id == Posting.cadre_id)
        .join(Region, Region.id == Posting.village_id)
        .where(Region.code.startswith(prefix))
    )
    inspectors = db.session.execute(
        db.select(User.id, User.name)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == "inspector")
    )
    by_posting = {
        draw_frames.pseudonym(draw.salt, "posting", pid): (pid, vid, name, code)
        for pid, vid, name, code in postings
    }
    by_user = {
        draw_frames.pseudonym(draw.salt, "user", uid): (uid, name) for uid, name in inspectors
    }
    return by_posting, by_user


def _assign(draw, result):
    postings, inspectors = _frame_people(draw)
    teams = []
    for rank, picked in enumerate(result["targets"], start=1):
        posting_id, village_id, _, _ = postings[picked["id"]]
        assignment = Assignment(
            draw=draw,
            posting_id=posting_id,
            village_id=village_id,
            rank=rank,
            stratum=picked["stratum"],
            infeasible=picked.get("infeasible"),
        )
        db.session.add(assignment)
        teams.append((assignment, [inspectors[i][0] for i in picked.get("inspectors", [])]))
    db.session.flush()
    rows = [{"assignment_id": a.id, "inspector_id": i} for a, team in teams for i in team]
    if rows:
        db.session.execute(insert(assignment_inspector), rows)
    for assignment, _ in teams:
        db.session.expire(assignment, ["inspectors"])


def reveal(*, actor, draw_id):
    draw = _managed(actor, draw_id)
    if draw.status == "committed":
        raise Conflict("draw_not_executed", "Execute the draw first.", "请先执行抽签。")
    if draw.status != "revealed":
        draw.status, draw.revealed_at = "revealed", _now()
        audit.record(
            "draw.reveal", draw, actor=actor, summary={"secret_sha256": _secret_digest(draw)}
        )
        db.session.commit()
    return draw


def _secret_digest(draw):
    return hashlib.sha256(bytes.fromhex(draw.secret)).hexdigest() if draw.secret else None


def proof(*, actor, draw_id):
    """The published proof: after the window closes or an explicit reveal. Inside the
    jurisdiction it also says who is who; outside it, people stay pseudonyms."""
    draw = db.session.get(Draw, draw_id)
    public = draw is not None and (
        draw.status == "revealed" or (draw.status == "executed" and _now() >= draw.window_end)
    )
    inside = draw is not None and auth.can_see(actor, draw)
    if draw is None or not (public or inside):
        raise NotFound("draw_not_found", "No such draw.", "未找到该抽签。")
    if not public:
        raise Conflict(
            "draw_not_revealed",
            "The proof is published after the window closes.",
            "抽签窗口结束后才公布证明。",
        )
    body = {
        "draw_id": str(draw.id),
        "mode": draw.mode,
        "frame": json.loads(draw.frame),
        "frame_hash": draw.frame_hash,
        "commitment": draw.commitment,
        "secret": draw.secret,
        "beacon_spec": draw.beacon_spec,
        "beacon_value": draw.beacon_value if draw.mode == "commit-reveal" else None,
        "rfc3797_sources": draw.parameters.get("rfc3797_sources"),
        "result": draw.result,
    }
    if inside:
        body["identities"] = _identities(draw)
    audit.record("draw.proof_read", draw, actor=actor, summary={"identities": "identities" in body})
    db.session.commit()
    return body


def _identities(draw):
    frame = json.loads(draw.frame)
    wanted = {t["id"] for t in frame["targets"]} | {i["id"] for i in frame["inspectors"]}
    postings, inspectors = _frame_people(draw)
    return {
        "salt": draw.salt,
        "postings": {
            key: {"posting_id": pid, "cadre": name, "village": code}
            for key, (pid, _, name, code) in postings.items()
            if key in wanted
        },
        "inspectors": {
            key: {"user_id": uid, "name": name}
            for key, (uid, name) in inspectors.items()
            if key in wanted
        },
    }


# ---------------------------------------------------------------- who sees what


def _managed(actor, draw_id):
    draw = auth.get_visible(Draw, draw_id, actor)
    if not (actor.has_role("admin") or draw.owner_id == actor.id):
        raise Forbidden(
            "not_draw_owner", "Only the draw's owner may do this.", "只有抽签发起人可以执行此操作。"
        )
    return draw


def get(*, actor, draw_id):
    return auth.get_visible(Draw, draw_id, actor)


def list_(*, actor, status=None):
    stmt = auth.scoped(db.select(Draw), Draw, actor)
    if status:
        stmt = stmt.where(Draw.status == status)
    return stmt.order_by(Draw.id.desc())


def _jsonable(params):
    return json.loads(json.dumps(params, default=str))
