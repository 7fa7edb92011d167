"""Remote roll-calls (随机点名): each drawn cadre is challenged once, at a moment they
could not predict, and answers with a live check-in before the deadline."""

from datetime import timedelta

from server.errors import Conflict, Invalid
from server.extensions import db
from server.models import Assignment, Challenge, Posting
from server.models.types import utcnow
from server.tools import drawing

DEFAULT_ANSWER_MINUTES = 30
# A phone's clock may run a little behind the server's.
CLOCK_TOLERANCE = timedelta(minutes=2)


def timing_seed(draw):
    """The bytes challenge times derive from (docs/draw-algorithm.md, section 7a)."""
    if draw.mode == "commit-reveal":
        return bytes.fromhex(draw.seed)
    return drawing.h(b"rfc3797-v1", draw.beacon_value)


def issue(draw):
    """Schedule a challenge for every target of an executed roll-call draw."""
    minutes = draw.parameters.get("answer_minutes", DEFAULT_ANSWER_MINUTES)
    window = int((draw.window_end - draw.window_start).total_seconds())
    span = window - minutes * 60
    if span <= 0:
        raise Invalid(
            "window_too_short",
            "The window is shorter than the answer period.",
            "抽查时段短于应答时限。",
        )
    seed = timing_seed(draw)
    targets = {t["rank"]: t["id"] for t in draw.result["targets"]}
    drawn = db.session.execute(
        db.select(Assignment.id, Assignment.rank, Posting.cadre_id)
        .join(Posting, Posting.id == Assignment.posting_id)
        .where(Assignment.draw_id == draw.id)
    )
    for assignment_id, rank, cadre_id in drawn:
        offset = drawing.challenge_offset(seed, targets[rank], span)
        issue_at = draw.window_start + timedelta(seconds=offset)
        db.session.add(
            Challenge(
                assignment_id=assignment_id,
                cadre_id=cadre_id,
                issue_at=issue_at,
                deadline=issue_at + timedelta(minutes=minutes),
            )
        )


def mine(*, actor):
    """The caller's challenges issued so far. Scheduled ones do not exist for them: the
    query does not even depend on whether there are any."""
    return (
        db.select(Challenge)
        .where(Challenge.cadre_id == actor.id, Challenge.issue_at <= utcnow())
        .order_by(Challenge.issue_at.desc())
    )


def answer(*, actor, challenge_id, checkin):
    """Attach a just-submitted check-in to the challenge it answers (caller commits)."""
    challenge = db.session.get(Challenge, challenge_id)
    now = utcnow()
    if challenge is None or challenge.cadre_id != actor.id or challenge.issue_at > now:
        raise Invalid(
            "challenge_not_found",
            "No such roll-call for you.",
            "没有针对您的该次点名。",
            errors={"challenge_id": ["No such roll-call for you."]},
        )
    if challenge.answered_checkin_id is not None:
        raise Conflict(
            "challenge_answered", "This roll-call was answered already.", "该次点名已应答。"
        )
    if checkin.kind != "presence":
        raise Invalid(
            errors={"challenge_id": ["A roll-call is answered with a presence check-in."]}
        )
    if checkin.captured_at < challenge.issue_at - CLOCK_TOLERANCE:
        # A check-in made before the challenge (say, queued offline) is no answer to it.
        raise Invalid(
            "answer_predates_challenge",
            "This check-in was made before the roll-call was issued.",
            "该签到早于点名发出时间，不能作为应答。",
            errors={"captured_at": ["Before the roll-call was issued."]},
        )
    challenge.answered_checkin_id, challenge.answered_at = checkin.id, checkin.received_at
    return challenge
