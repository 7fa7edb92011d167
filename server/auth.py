"""Who is calling, and what they may see.

Every list and every object read goes through `scoped()` / `get_visible()`: one table
of rules per model, by role. An object outside the caller's scope is answered 404,
exactly as if it did not exist, so that existence does not leak.
"""

import functools
import re
import secrets
from copy import deepcopy
from datetime import UTC, datetime

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, g, request
from sqlalchemy import false, or_, select, true
from sqlalchemy.orm import joinedload

from server.errors import Forbidden, NotFound, Unauthorized
from server.extensions import db
from server.models import (
    Assignment,
    AuditEvent,
    AuthSession,
    Case,
    CaseAnswer,
    CaseAttachment,
    CaseDecision,
    Checkin,
    CheckinReview,
    Draw,
    Finding,
    Flag,
    Household,
    Leave,
    MonthClosure,
    Photo,
    Policy,
    Posting,
    Problem,
    Recommendation,
    Rectification,
    Region,
    ReplacementObligation,
    Unit,
    User,
    assignment_inspector,
    household_cadre,
)
from server.models.regions import code_prefix
from server.models.types import utcnow

# ---------------------------------------------------------------- passwords


def _hasher():
    cfg = current_app.config
    return PasswordHasher(time_cost=cfg["ARGON2_TIME_COST"], memory_cost=cfg["ARGON2_MEMORY_COST"])


def hash_password(password):
    return _hasher().hash(password)


def check_password(password_hash, password):
    """Constant work whether or not the user exists: a missing hash checks a dummy one."""
    hasher = _hasher()
    if not password_hash:
        hasher.hash(password)
        return False
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# ---------------------------------------------------------------- tokens


def new_token_id():
    return secrets.token_hex(16)


def encode_token(user_id, session_id, kind, expires_at, jti=None):
    claims = {
        "sub": str(user_id),
        "sid": session_id,
        "typ": kind,
        "jti": jti or new_token_id(),
        "iat": int(datetime.now(UTC).timestamp()),
        "exp": int(expires_at.timestamp()),
    }
    return jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm="HS256")


def decode_token(token, kind):
    try:
        claims = jwt.decode(
            token,
            current_app.config["SECRET_KEY"],
            algorithms=["HS256"],
            options={"require": ["sub", "sid", "typ", "jti", "exp"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token_expired", "The token has expired.", "令牌已过期。") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("invalid_token", "The token is invalid.", "令牌无效。") from exc
    if claims["typ"] != kind:
        raise Unauthorized("invalid_token", "The token is invalid.", "令牌无效。")
    return claims


# ---------------------------------------------------------------- the caller


def current_user():
    return g.get("current_user")


def _authenticate():
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise Unauthorized()
    claims = decode_token(header[len("Bearer ") :].strip(), "access")
    # Every request runs this: the log-in, its user and the user's roles in one query.
    found = (
        db.session.execute(
            select(AuthSession, User)
            .join(User, User.id == AuthSession.user_id)
            .where(AuthSession.id == str(claims["sid"]))
            .options(joinedload(User.role_rows))
        )
        .unique()
        .first()
    )
    session, user = found if found is not None else (None, None)
    if session is None or session.revoked_at is not None:
        raise Unauthorized("session_revoked", "This log-in has ended.", "登录已失效，请重新登录。")
    if not user.active or str(user.id) != str(claims["sub"]):
        raise Unauthorized("invalid_token", "The token is invalid.", "令牌无效。")
    g.current_user, g.session_id = user, session.id
    return user


def required(*roles):
    """Require a valid access token and, if given, one of `roles`.

    Also documents the bearer requirement and the 401/403 answers in OpenAPI.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            user = _authenticate()
            if roles and not user.has_role(*roles):
                raise Forbidden(
                    "role_required",
                    f"This needs one of the roles: {', '.join(roles)}.",
                    f"需要以下角色之一：{', '.join(roles)}。",
                )
            return view(*args, **kwargs)

        doc = deepcopy(getattr(wrapper, "_apidoc", {}))
        manual = doc.setdefault("manual_doc", {})
        manual["security"] = [{"bearerAuth": []}]
        responses = manual.setdefault("responses", {})
        responses[401] = {"description": "Not logged in, or the token is invalid."}
        if roles:
            # After the view's own 403s (out of jurisdiction, ...), which this would hide.
            own = doc.get("response", {}).get("responses", {}).get(403, [])
            texts = [r["description"] for r in own if r.get("description")]
            gate = f"Needs one of the roles: {', '.join(roles)}."
            responses[403] = {"description": " ".join([gate, *texts])}
        wrapper._apidoc = doc
        return wrapper

    return decorator


def register_auth_hooks(app):
    @app.teardown_request
    def forget_user(exc=None):
        g.pop("current_user", None)


# ---------------------------------------------------------------- scoping


def jurisdiction_prefix(user):
    if user.jurisdiction is None:
        return None
    return code_prefix(user.jurisdiction.code, user.jurisdiction.level)


def subtree_ids(prefix):
    """The ids of every region whose code starts with `prefix` (a subquery)."""
    return select(Region.id).where(Region.code.startswith(prefix, autoescape=True))


def in_jurisdiction(user, region):
    prefix = jurisdiction_prefix(user)
    return prefix is not None and region.code.startswith(prefix)


def _region_rule(user, prefix):
    # Division codes and names are public reference data.
    return true()


def _unit_rule(user, prefix):
    return true()


def _user_rule(user, prefix):
    """A reviewer sees the people of their subtree: its inspectors and reviewers, the
    cadres serving there now, and those its dispatching units employ."""
    clauses = [User.id == user.id]
    if prefix is not None and user.has_role("reviewer"):
        sub = subtree_ids(prefix)
        serving = select(Posting.cadre_id).where(
            Posting.village_id.in_(sub), Posting.status == "active"
        )
        clauses += [
            User.jurisdiction_id.in_(sub),
            User.id.in_(serving),
            User.unit_id.in_(select(Unit.id).where(Unit.region_id.in_(sub))),
        ]
    return or_(*clauses)


def _posting_rule(user, prefix):
    clauses = []
    if user.has_role("cadre"):
        clauses.append(Posting.cadre_id == user.id)
    if prefix is not None and user.has_role("reviewer"):
        clauses.append(Posting.village_id.in_(subtree_ids(prefix)))
    return or_(*clauses) if clauses else false()


def _household_rule(user, prefix):
    clauses = []
    if user.has_role("cadre"):
        paired = select(household_cadre.c.household_id).where(household_cadre.c.cadre_id == user.id)
        clauses.append(Household.id.in_(paired))
    if prefix is not None and user.has_role("reviewer"):
        clauses.append(Household.village_id.in_(subtree_ids(prefix)))
    return or_(*clauses) if clauses else false()


def _inspected_postings(user):
    """Postings an inspector is sent to, once the assignment's window has opened."""
    mine = select(assignment_inspector.c.assignment_id).where(
        assignment_inspector.c.inspector_id == user.id
    )
    opened = select(Draw.id).where(Draw.status != "committed", Draw.window_start <= utcnow())
    return select(Assignment.posting_id).where(
        Assignment.id.in_(mine), Assignment.draw_id.in_(opened)
    )


def _checkin_rule(user, prefix):
    # Everyone sees what they submitted themselves (cadres, and inspectors' arrivals).
    clauses = [Checkin.cadre_id == user.id]
    if user.has_role("inspector"):
        # The team checks the record against what it finds on site.
        clauses.append(Checkin.posting_id.in_(_inspected_postings(user)))
    if prefix is not None and user.has_role("reviewer"):
        clauses.append(Checkin.village_id.in_(subtree_ids(prefix)))
    return or_(*clauses) if clauses else false()


def _photo_rule(user, prefix):
    # A photo is visible exactly when its check-in is, or its rectification's problem.
    visible = select(Checkin.id).where(_checkin_rule(user, prefix))
    rectifications = select(Rectification.id).where(
        Rectification.problem_id.in_(select(Problem.id).where(_problem_rule(user, prefix)))
    )
    return or_(Photo.checkin_id.in_(visible), Photo.rectification_id.in_(rectifications))


def _in_subtree_postings(prefix):
    return select(Posting.id).where(Posting.village_id.in_(subtree_ids(prefix)))


def _problem_rule(user, prefix):
    """The department of the village; the inspectors whose finding raised it; the cadre
    of the posting it concerns, once it is on the list (not while a finding is a draft)."""
    clauses = []
    if user.has_role("inspector"):
        raised = select(Finding.id).where(_finding_rule(user, prefix))
        clauses.append(Problem.finding_id.in_(raised))
    if user.has_role("cadre"):
        mine = select(Posting.id).where(Posting.cadre_id == user.id)
        clauses.append(Problem.posting_id.in_(mine) & (Problem.status != "draft"))
    if prefix is not None and user.has_role("reviewer"):
        clauses.append(Problem.village_id.in_(subtree_ids(prefix)))
    return or_(*clauses) if clauses else false()


def _rectification_rule(user, prefix):
    return Rectification.problem_id.in_(select(Problem.id).where(_problem_rule(user, prefix)))


def _recommendation_rule(user, prefix):
    # The cadre sees every recommendation about them (DOMAIN.md: and may answer it).
    clauses = []
    if user.has_role("cadre"):
        clauses.append(
            Recommendation.posting_id.in_(select(Posting.id).where(Posting.cadre_id == user.id))
        )
    if prefix is not None and user.has_role("reviewer"):
        clauses.append(Recommendation.posting_id.in_(_in_subtree_postings(prefix)))
    return or_(*clauses) if clauses else false()


def _case_rule(user, prefix):
    clauses = []
    if user.has_role("cadre"):
        clauses.append(Case.cadre_id == user.id)
    if prefix is not None and user.has_role("reviewer"):
        clauses.append(Case.posting_id.in_(_in_subtree_postings(prefix)))
    return or_(*clauses) if clauses else false()


def _visible_cases(user, prefix):
    return select(Case.id).where(_case_rule(user, prefix))


def _case_answer_rule(user, prefix):
    return CaseAnswer.case_id.in_(_visible_cases(user, prefix))


def _case_attachment_rule(user, prefix):
    answers = select(CaseAnswer.id).where(CaseAnswer.case_id.in_(_visible_cases(user, prefix)))
    return CaseAttachment.answer_id.in_(answers)


def _case_decision_rule(user, prefix):
    return CaseDecision.case_id.in_(_visible_cases(user, prefix))


def _replacement_rule(user, prefix):
    # The department where the cadre served, and the one over the dispatching unit.
    if prefix is not None and user.has_role("reviewer"):
        units = select(Unit.id).where(Unit.region_id.in_(subtree_ids(prefix)))
        return or_(
            ReplacementObligation.recalled_posting_id.in_(_in_subtree_postings(prefix)),
            ReplacementObligation.unit_id.in_(units),
        )
    return false()


def _flag_rule(user, prefix):
    # Flags and reviews belong to their check-in: visible exactly when it is. (The cadre
    # sees the decisions on their own check-ins, and may answer them.)
    return Flag.checkin_id.in_(select(Checkin.id).where(_checkin_rule(user, prefix)))


def _review_rule(user, prefix):
    return CheckinReview.checkin_id.in_(select(Checkin.id).where(_checkin_rule(user, prefix)))


def _leave_rule(user, prefix):
    clauses = []
    if user.has_role("cadre"):
        clauses.append(Leave.cadre_id == user.id)
    if prefix is not None and user.has_role("reviewer"):
        serving = select(Posting.id).where(Posting.village_id.in_(subtree_ids(prefix)))
        clauses.append(Leave.posting_id.in_(serving))
    return or_(*clauses) if clauses else false()


def _policy_rule(user, prefix):
    # The rules people are held to are public to everyone they apply to.
    return true()


def _closure_rule(user, prefix):
    # A reviewer sees the closures of their subtree (and those above it that cover it
    # are visible through the ledger itself).
    if prefix is not None and user.has_role("reviewer"):
        return MonthClosure.region_id.in_(subtree_ids(prefix))
    return false()


def _draw_rule(user, prefix):
    # Draws are the organization department's: never shown to cadres or inspectors.
    if prefix is not None and user.has_role("reviewer"):
        return Draw.scope_id.in_(subtree_ids(prefix))
    return false()


def _assignment_rule(user, prefix):
    """Sealed: an inspector sees an assignment only once its window has opened; the
    person inspected never sees it at all (cadres have no rule here)."""
    clauses = []
    if user.has_role("inspector"):
        mine = select(assignment_inspector.c.assignment_id).where(
            assignment_inspector.c.inspector_id == user.id
        )
        opened = select(Draw.id).where(Draw.status != "committed", Draw.window_start <= utcnow())
        clauses.append(Assignment.id.in_(mine) & Assignment.draw_id.in_(opened))
    if prefix is not None and user.has_role("reviewer"):
        in_scope = select(Draw.id).where(Draw.scope_id.in_(subtree_ids(prefix)))
        clauses.append(Assignment.draw_id.in_(in_scope))
    return or_(*clauses) if clauses else false()


def _finding_rule(user, prefix):
    """The team and the department see findings; the cadre sees final ones about them
    (a person can always see what is held against them, once it is held)."""
    clauses = [
        Finding.assignment_id.in_(select(Assignment.id).where(_assignment_rule(user, prefix)))
    ]
    if user.has_role("cadre"):
        theirs = select(Assignment.id).where(
            Assignment.posting_id.in_(select(Posting.id).where(Posting.cadre_id == user.id))
        )
        clauses.append((Finding.status == "final") & Finding.assignment_id.in_(theirs))
    return or_(*clauses)


def _admin_only_rule(user, prefix):
    return false()


SCOPE_RULES = {
    Region: _region_rule,
    Unit: _unit_rule,
    User: _user_rule,
    Posting: _posting_rule,
    Household: _household_rule,
    Checkin: _checkin_rule,
    Photo: _photo_rule,
    Draw: _draw_rule,
    Assignment: _assignment_rule,
    Finding: _finding_rule,
    Flag: _flag_rule,
    CheckinReview: _review_rule,
    Leave: _leave_rule,
    Policy: _policy_rule,
    MonthClosure: _closure_rule,
    Problem: _problem_rule,
    Rectification: _rectification_rule,
    Recommendation: _recommendation_rule,
    Case: _case_rule,
    CaseAnswer: _case_answer_rule,
    CaseAttachment: _case_attachment_rule,
    CaseDecision: _case_decision_rule,
    ReplacementObligation: _replacement_rule,
    AuditEvent: _admin_only_rule,
}


def scope_clause(model, user):
    if user.has_role("admin"):
        return true()
    return SCOPE_RULES[model](user, jurisdiction_prefix(user))


def scoped(stmt, model, user):
    """Restrict a select() of `model` to what `user` may see."""
    return stmt.where(scope_clause(model, user))


def object_name(model):
    """Region -> region, AuditEvent -> audit_event: the word used in error codes."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", model.__name__).lower()


def get_visible(model, object_id, user):
    """Load one object the user may see, or raise NotFound (also when out of scope)."""
    pk = model.__mapper__.primary_key[0]
    stmt = scoped(select(model).where(pk == object_id), model, user)
    obj = db.session.execute(stmt).scalar_one_or_none()
    if obj is None:
        raise NotFound(
            f"{object_name(model)}_not_found",
            f"No such {object_name(model).replace('_', ' ')}.",
            "未找到该对象。",
        )
    return obj


def manages_user(actor, person):
    """May `actor` change `person`, or post them somewhere? Seeing is not enough: a
    person serving in another county belongs to that county's department. A reviewer
    manages a person only if everything that places them lies inside the reviewer's
    jurisdiction (active postings, jurisdiction, home unit); admins manage everyone."""
    if actor.has_role("admin"):
        return True
    if not actor.has_role("reviewer") or jurisdiction_prefix(actor) is None:
        return False
    places = [
        village
        for (village,) in db.session.execute(
            select(Region)
            .join(Posting, Posting.village_id == Region.id)
            .where(Posting.cadre_id == person.id, Posting.status == "active")
        )
    ]
    places += [r for r in (person.jurisdiction, person.unit.region if person.unit else None) if r]
    return all(in_jurisdiction(actor, region) for region in places)


def can_see(actor, obj):
    """The scope rule of obj's model, for an object already loaded."""
    model = type(obj)
    pk = model.__mapper__.primary_key[0]
    stmt = scoped(select(pk).where(pk == getattr(obj, pk.key)), model, actor)
    return db.session.execute(stmt).first() is not None


def ensure_manages(user, region):
    """Writes: admins anywhere, reviewers inside their jurisdiction."""
    if user.has_role("admin"):
        return
    if user.has_role("reviewer") and region is not None and in_jurisdiction(user, region):
        return
    raise Forbidden(
        "out_of_jurisdiction",
        "This is outside your jurisdiction.",
        "超出您的管辖范围。",
        errors={"region": region.code if region is not None else None},
    )
