"""Freezing a draw's frame from the database: who could be drawn, who could inspect,
and every fact recusal needs, with people as salted pseudonyms (the salt stays secret
until the proof is published, and then only inside the jurisdiction)."""

import hmac
import math
from datetime import timedelta

from sqlalchemy.orm import aliased

from server.extensions import db
from server.models import (
    Assignment,
    Checkin,
    DeclaredRelationship,
    Finding,
    Flag,
    Leave,
    Posting,
    Region,
    User,
    UserRole,
    assignment_inspector,
)
from server.models.regions import subtree_prefix
from server.services import leave_days
from server.services.policies import policy_for
from server.services.postings import local_today

KEY_SEVERITIES = ("high", "critical")
# How far back leave days count for the key stratum: the year up to the draw's day.
LEAVE_WINDOW_DAYS = 365


def key_leave_days(scope, asked=None):
    """The leave days (in the last 365) that put a posting in the key stratum: as asked,
    or by default half the annual leave cap of the policy in force at the scope today
    (15 of the usual 30: halfway to the recall trigger). None when the policy sets no
    cap and none was asked for: then leave is no criterion."""
    if asked is not None:
        return asked
    cap = policy_for(scope, local_today())["leave"]["annual_cap_days"]
    return math.ceil(cap / 2) if cap else None


def build(draw_id, kind, scope, salt, params):
    """(frame, targets, inspectors): the frame to hash, and the rows behind it."""
    targets = _targets(scope, salt, params.get("key_leave_days"))
    inspectors = _inspectors(scope, salt, targets, params["recusal"]["recent_draws"])
    frame = {
        "version": "draw-v1",
        "draw_id": str(draw_id),
        "kind": kind,
        "targets": sorted(_public(targets), key=lambda t: t["id"]),
        "inspectors": sorted(_public(inspectors), key=lambda i: i["id"]),
        "rules": _rules(params),
    }
    return frame, targets, inspectors


def pseudonym(salt_hex, kind, object_id):
    return hmac.new(bytes.fromhex(salt_hex), f"{kind}:{object_id}".encode(), "sha256").hexdigest()[
        :16
    ]


# ---------------------------------------------------------------- freezing the frame


def _targets(scope, salt, leave_threshold):
    """Active postings in the scope's villages (plain columns: a province has tens of
    thousands)."""
    rows = db.session.execute(
        db.select(Posting.id, Posting.cadre_id, Posting.unit_id, Region.code)
        .join(Region, Posting.village_id == Region.id)
        .where(Posting.status == "active", Region.code.startswith(subtree_prefix(scope.code)))
        .order_by(Posting.id)
    )
    reasons = _key_reasons(leave_threshold)
    targets = []
    for posting_id, cadre_id, unit_id, village_code in rows:
        why = sorted(reason for reason, postings in reasons.items() if posting_id in postings)
        targets.append(
            {
                "id": pseudonym(salt, "posting", posting_id),
                "stratum": village_code[:6],
                "key": bool(why),
                "key_reasons": why,
                "village": village_code,
                "unit": str(unit_id),
                "_cadre_id": cadre_id,
            }
        )
    return targets


def _key_reasons(leave_threshold):
    """{reason: posting ids} for the key stratum: open high-severity flags, an absence an
    inspection found, and many approved leave days in the last year."""
    flagged = (
        db.select(Checkin.posting_id)
        .join(Flag, Flag.checkin_id == Checkin.id)
        .where(Flag.status == "open", Flag.severity.in_(KEY_SEVERITIES))
    )
    absent = (
        db.select(Assignment.posting_id)
        .join(Finding, Finding.assignment_id == Assignment.id)
        .where(Finding.status == "final", Finding.outcome == "absent")
    )
    reasons = {
        "open_flag": set(db.session.execute(flagged).scalars()),
        "found_absent": set(db.session.execute(absent).scalars()),
    }
    if leave_threshold is not None:
        last = local_today()
        first = last - timedelta(days=LEAVE_WINDOW_DAYS - 1)
        many = leave_days.approved_days(Leave.posting_id, first, last, at_least=leave_threshold)
        reasons["leave_days"] = {row.posting_id for row in db.session.execute(many)}
    return reasons


def _covers(jurisdiction_code, scope_code):
    """An inspector works in the draw's scope if either region contains the other."""
    a, b = subtree_prefix(jurisdiction_code), subtree_prefix(scope_code)
    return a.startswith(b) or b.startswith(a)


def _inspectors(scope, salt, targets, recent_draws):
    jurisdiction, home = aliased(Region), aliased(Region)
    rows = db.session.execute(
        db.select(User.id, User.unit_id, jurisdiction.code, home.code)
        .join(UserRole, UserRole.user_id == User.id)
        .join(jurisdiction, jurisdiction.id == User.jurisdiction_id)
        .outerjoin(home, home.id == User.home_region_id)
        .where(UserRole.role == "inspector", User.active.is_(True))
        .order_by(User.id)
    )
    people = [row for row in rows if _covers(row[2], scope.code)]
    ids = [row[0] for row in people]
    related = _declared(ids)
    recent = _recent_villages(ids, recent_draws)
    by_cadre = {}
    for target in targets:
        by_cadre.setdefault(target["_cadre_id"], []).append(target["id"])
    return [
        {
            "id": pseudonym(salt, "user", user_id),
            "unit": str(unit_id) if unit_id is not None else None,
            "home": [home_code] if home_code is not None else [],
            "recent_villages": recent.get(user_id, []),
            # Declared ties, and their own postings (an inspector who is also a cadre).
            "related": sorted(
                {
                    t
                    for cadre in {*related.get(user_id, ()), user_id}
                    for t in by_cadre.get(cadre, [])
                }
            ),
        }
        for user_id, unit_id, _, home_code in people
    ]


def _chunks(ids, size=500):
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _declared(inspector_ids):
    """{inspector id: {cadre ids}} of declared relationships, in a few queries."""
    ties = {}
    for chunk in _chunks(inspector_ids):
        rows = db.session.execute(
            db.select(DeclaredRelationship.inspector_id, DeclaredRelationship.cadre_id).where(
                DeclaredRelationship.inspector_id.in_(chunk)
            )
        )
        for inspector_id, cadre_id in rows:
            ties.setdefault(inspector_id, set()).add(cadre_id)
    return ties


def _recent_villages(inspector_ids, recent_draws):
    """{inspector id: sorted village codes} of each one's last `recent_draws` draws."""
    if recent_draws <= 0:
        return {}
    visits = {}
    for chunk in _chunks(inspector_ids):
        rows = db.session.execute(
            db.select(assignment_inspector.c.inspector_id, Assignment.draw_id, Region.code)
            .join(Assignment, Assignment.id == assignment_inspector.c.assignment_id)
            .join(Region, Region.id == Assignment.village_id)
            .where(assignment_inspector.c.inspector_id.in_(chunk))
        )
        for inspector_id, draw_id, code in rows:
            visits.setdefault(inspector_id, {}).setdefault(draw_id, set()).add(code)
    recent = {}
    for inspector_id, by_draw in visits.items():
        latest = sorted(by_draw, reverse=True)[:recent_draws]
        recent[inspector_id] = sorted(set().union(*(by_draw[d] for d in latest)))
    return recent


def _rules(params):
    recusal = params["recusal"]
    return {
        "count": str(params["count"]) if params.get("count") is not None else None,
        "ratio": params.get("ratio"),
        "key_ratio": params.get("key_ratio"),
        "key_leave_days": _as_text(params.get("key_leave_days")),
        "min_per_stratum": "1",
        "team_size": str(params["team_size"]),
        "load_cap": str(params["load_cap"]),
        "recuse_same_unit": recusal["same_unit"],
        "recuse_home_region": recusal["home_region"],
        "recuse_recent_villages": recusal["recent_villages"],
        "recuse_related": recusal["related"],
    }


def _as_text(number):
    return str(number) if number is not None else None


def _public(entries):
    return [{k: v for k, v in e.items() if not k.startswith("_")} for e in entries]
