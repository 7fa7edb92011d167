"""Reading recommendations (what the rules in `rules.py` proposed) and setting one aside.

A recommendation changes nothing by itself; a reviewer either opens a case from it
(`cases`) or sets it aside with a reason, at the level that would decide its measure.
"""

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from server import auth
from server.errors import Conflict, Forbidden, Invalid
from server.extensions import db
from server.models import AuditEvent, Case, Posting, Recommendation
from server.models.leaves import APPROVER_LEVELS
from server.services import audit
from server.services.cases import refuse_own
from server.services.lookups import region_by_code
from server.services.policies import policy_for
from server.services.rule_support import local_day

SET_ASIDE = "recommendation.set_aside"


def get(*, actor, recommendation_id):
    return auth.get_visible(Recommendation, recommendation_id, actor)


def list_(*, actor, status=None, rule=None, posting_id=None, region_code=None):
    # A page shows each one's cadre and village: load them with the page, not one by one.
    posting = selectinload(Recommendation.posting)
    stmt = auth.scoped(select(Recommendation), Recommendation, actor).options(
        posting.selectinload(Posting.cadre), posting.selectinload(Posting.village)
    )
    if status:
        stmt = stmt.where(Recommendation.status == status)
    if rule:
        stmt = stmt.where(Recommendation.rule == rule)
    if posting_id is not None:
        stmt = stmt.where(Recommendation.posting_id == posting_id)
    if region_code:
        region = region_by_code(region_code, "region_code")
        postings = select(Posting.id).where(Posting.village_id.in_(auth.subtree_ids(region.prefix)))
        stmt = stmt.where(Recommendation.posting_id.in_(postings))
    return stmt.order_by(Recommendation.id.desc())


def set_aside(*, actor, recommendation_id, reason):
    """Close a recommendation without a case, with a reason. Only while no case is open
    from it, and only by a reviewer of the level that would decide its measure (setting
    a recall aside is a decision about a recall)."""
    recommendation = auth.get_visible(Recommendation, recommendation_id, actor)
    village = recommendation.posting.village
    auth.ensure_manages(actor, village)
    # Setting aside is deciding: nobody does it about themselves, as with a case.
    refuse_own(actor, recommendation.posting.cadre_id)
    _ensure_level(actor, recommendation, village)
    if not (reason or "").strip():
        raise Invalid(
            "reason_required",
            "Say why the recommendation is set aside.",
            "搁置建议须说明理由。",
            errors={"reason": ["Required."]},
        )
    # A set-aside and a case opened at once: one waits for the other (cases locks too).
    db.session.refresh(recommendation, with_for_update=True)
    case_id = db.session.execute(
        select(Case.id).where(Case.recommendation_id == recommendation.id)
    ).scalar_one_or_none()
    if case_id is not None or recommendation.status == "case_opened":
        raise Conflict(
            "case_opened",
            "A case is open from this recommendation; decide it there.",
            "已据此建议立案，请在案件中处理。",
            errors={"case_id": case_id},
        )
    if recommendation.status == "set_aside":
        raise Conflict(
            "already_set_aside",
            "This recommendation was already set aside.",
            "该建议已被搁置。",
        )
    recommendation.status = "set_aside"
    audit.record(
        SET_ASIDE,
        recommendation,
        actor=actor,
        summary={
            "rule": recommendation.rule,
            "measure": recommendation.measure,
            "posting_id": recommendation.posting_id,
            "period": recommendation.period,
            "reason": reason.strip(),
        },
    )
    db.session.commit()
    return recommendation


def _ensure_level(actor, recommendation, village):
    if actor.has_role("admin"):
        return
    day = local_day(recommendation.created_at)
    needed = policy_for(village, day)["consequences"]["decision_levels"][recommendation.measure]
    level = actor.jurisdiction.level
    rank = APPROVER_LEVELS.index(level) if level in APPROVER_LEVELS else -1
    if rank < APPROVER_LEVELS.index(needed):
        raise Forbidden(
            "decision_level_required",
            f"A {recommendation.measure} is decided at {needed} level or above.",
            "该处理建议须由更高一级决定。",
            errors={"decision_level": needed, "your_level": level},
        )


def set_aside_record(recommendation):
    """Who set it aside, when and why (from the audit log), or None."""
    if recommendation.status != "set_aside":
        return None
    event = db.session.execute(
        select(AuditEvent)
        .where(
            AuditEvent.action == SET_ASIDE,
            AuditEvent.object_type == Recommendation.__tablename__,
            AuditEvent.object_id == str(recommendation.id),
        )
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).scalar_one_or_none()
    if event is None:
        return None
    return {"by_id": event.actor_id, "at": event.at, "reason": event.summary.get("reason")}
