"""Reviewers' decisions on check-ins, and the cadre's answer to each.

A decision is a new row that points at the one it supersedes; the machine's verdict
stays as it was. The latest decision is copied onto the check-in (`review_decision`,
what attendance counts) and settles every flag on it: `dismissed` when accepted despite
them, `upheld` when rejected.
"""

from sqlalchemy.orm import selectinload

from server import auth
from server.errors import Conflict, Forbidden
from server.extensions import db
from server.models import Checkin, CheckinReview
from server.models.checkins import ARRIVAL
from server.models.types import utcnow
from server.services import audit, closures, leaves

FLAG_OUTCOME = {"accepted": "dismissed", "rejected": "upheld"}


def decide(*, actor, checkin_id, decision, reason):
    checkin = auth.get_visible(Checkin, checkin_id, actor)
    if checkin.cadre_id == actor.id:
        raise Forbidden(
            "own_checkin", "You may not review your own check-in.", "不能审核本人的签到。"
        )
    # Seeing is not deciding: an inspector on the team sees the check-in too.
    auth.ensure_manages(actor, checkin.village)
    if checkin.kind == ARRIVAL:
        raise Conflict(
            "checkin_not_reviewable",
            "An inspection arrival is not attendance; there is nothing to decide.",
            "督查到达记录不计入考勤，无需审核。",
        )
    closures.ensure_open(checkin.village, checkin.local_date)
    # Two reviewers at once: the second waits, then supersedes the first's decision.
    db.session.refresh(checkin, with_for_update=True)
    previous = latest(checkin.id)
    review = CheckinReview(
        checkin=checkin,
        decision=decision,
        reason=reason,
        reviewer=actor,
        decided_at=utcnow(),
        supersedes_id=previous.id if previous is not None else None,
    )
    db.session.add(review)
    checkin.review_decision = decision
    for flag in checkin.flags:
        flag.status = FLAG_OUTCOME[decision]
    db.session.flush()
    # A leave ends on an accepted return only (see leaves.close_on_return).
    if decision == "accepted":
        leaves.close_on_return(checkin)
    else:
        leaves.undo_close(checkin, actor)
    audit.record(
        "checkin.review",
        review,
        actor=actor,
        summary={
            "checkin_id": checkin.id,
            "decision": decision,
            "reason": reason,
            "supersedes_id": review.supersedes_id,
            "flags": {flag.code: flag.status for flag in checkin.flags},
        },
    )
    db.session.commit()
    return review


def latest(checkin_id):
    return db.session.execute(
        db.select(CheckinReview)
        .where(CheckinReview.checkin_id == checkin_id)
        .order_by(CheckinReview.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def get(*, actor, review_id):
    return auth.get_visible(CheckinReview, review_id, actor)


def answer(*, actor, review_id, answer):
    """The cadre's answer to a decision on their check-in: once, never edited."""
    review = auth.get_visible(CheckinReview, review_id, actor)
    if review.checkin.cadre_id != actor.id:
        raise Forbidden(
            "not_your_checkin",
            "Only the cadre who submitted the check-in may answer.",
            "只有提交该签到的干部本人可以答复。",
        )
    # Lock: two answers sent at once must not both find the review unanswered.
    db.session.refresh(review, with_for_update=True)
    if review.answer is not None:
        raise Conflict(
            "review_already_answered",
            "This decision was answered already.",
            "该审核决定已答复。",
        )
    review.answer, review.answered_at = answer, utcnow()
    audit.record(
        "checkin_review.answer",
        review,
        actor=actor,
        summary={"checkin_id": review.checkin_id, "answer": answer},
    )
    db.session.commit()
    return review


def mine(*, actor):
    """Decisions on the caller's own check-ins, newest first."""
    theirs = db.select(Checkin.id).where(Checkin.cadre_id == actor.id)
    return (
        db.select(CheckinReview)
        .where(CheckinReview.checkin_id.in_(theirs))
        .options(selectinload(CheckinReview.reviewer))
        .order_by(CheckinReview.id.desc())
    )
