"""Decisions on cases: final records with a written reason, by a reviewer of the level
the policy names, and only once the cadre has been heard (an answer, or the deadline
passed).

A decision is never edited. A correction is a new decision naming the case's latest one
(`corrects_id`), which stays on record; the measure in force is the latest decision's.

A recall acts on the world: the posting ends (status `recalled`, end date the decision's
local date), the policy's promotion bar is written on the decision, and the dispatching
unit owes a replacement by a deadline. Correcting a recall to a milder measure does NOT
undo those acts: the posting stays ended and the obligation stays, because people have
acted on them (the village is short of a cadre, the unit has been told). To put the
cadre back, post them again; such a posting in the same village, from the same unit,
can fulfil the obligation. The promotion bar follows the measure in force: a correction
away from the recall carries none. The correcting decision's `notice` says all this.
"""

from datetime import date, timedelta

from sqlalchemy import select

from server import auth
from server.errors import Conflict, Forbidden, Invalid
from server.extensions import db
from server.models import Case, CaseDecision, ReplacementObligation
from server.models.cases import MEASURES
from server.models.leaves import APPROVER_LEVELS
from server.models.types import utcnow
from server.services import audit
from server.services.cases import refuse_own
from server.services.ledger import local_today
from server.services.policies import policy_for

# Decisions that cannot harm the cadre, so need not wait for their answer.
HARMLESS = ("commendation", "dismissed")


def decide(*, actor, case_id, measure, reason, corrects_id=None):
    case = auth.get_visible(Case, case_id, actor)
    posting = case.posting
    auth.ensure_manages(actor, posting.village)
    refuse_own(actor, case.cadre_id)
    today = local_today()
    consequences = policy_for(posting.village, today)["consequences"]
    corrects = db.session.get(CaseDecision, corrects_id) if corrects_id is not None else None
    if corrects is not None and corrects.case_id != case.id:
        corrects = None  # the sequence check refuses it
    ensure_level(actor, required_level(case, measure, consequences, corrects))
    # A decision and an answer (or a second decision) at once: one waits for the other.
    db.session.refresh(case, with_for_update=True)
    _check_sequence(case, corrects_id)
    _ensure_heard(case, today, measure)
    standing = obligation_of(case)
    recalls = measure == "recall" and standing is None
    if recalls:
        db.session.refresh(posting, with_for_update=True)
        _ensure_recallable(posting, today)
    decision = CaseDecision(
        case=case,
        measure=measure,
        reason=reason,
        decided_by=actor,
        decided_at=utcnow(),
        corrects_id=corrects_id,
    )
    if measure == "recall":
        # A re-affirmed recall counts its bar from the day the posting actually ended.
        recalled_on = today if recalls else posting.end_date
        decision.promotion_barred_until = years_after(
            recalled_on, consequences["promotion_bar_years"]
        )
    db.session.add(decision)
    case.status = "decided"
    db.session.flush()
    audit.record(
        "case.decide",
        decision,
        actor=actor,
        summary={
            "case_id": case.id,
            "measure": measure,
            "reason": reason,
            "corrects_id": corrects_id,
            "promotion_barred_until": _iso(decision.promotion_barred_until),
            "recall_stands": standing is not None and measure != "recall",
        },
    )
    if recalls:
        _recall(posting, decision, today, consequences, actor)
    db.session.commit()
    return decision


def required_level(case, measure, consequences, corrects=None):
    """The case's level, or the level of the measure decided if that is higher: a
    reminder case decided as a recall needs whoever decides recalls. A correction also
    needs the level of the measure it corrects and of whoever decided that, so a lower
    level cannot overturn a higher level's decision by "correcting" it."""
    levels = [case.decision_level]
    if measure in MEASURES:
        levels.append(consequences["decision_levels"][measure])
    if corrects is not None:
        if corrects.measure in MEASURES:
            levels.append(consequences["decision_levels"][corrects.measure])
        decider = corrects.decided_by.jurisdiction
        if decider is not None and decider.level in APPROVER_LEVELS:
            levels.append(decider.level)
    return max(levels, key=APPROVER_LEVELS.index)


def ensure_level(actor, level):
    if actor.has_role("admin"):
        return
    mine = actor.jurisdiction.level if actor.jurisdiction is not None else None
    rank = APPROVER_LEVELS.index(mine) if mine in APPROVER_LEVELS else -1
    if rank < APPROVER_LEVELS.index(level):
        raise Forbidden(
            "decision_level_required",
            f"This decision is for the {level} level or above.",
            "该决定须由更高一级作出。",
            errors={"decision_level": level, "your_level": mine},
        )


def may_decide(actor, case):
    """For pages: whether the decision form is worth showing to `actor` at all."""
    if case.cadre_id == actor.id or not auth.can_see(actor, case):
        return False
    try:
        auth.ensure_manages(actor, case.posting.village)
        ensure_level(actor, case.decision_level)
    except Forbidden:
        return False
    return True


def _decisions(case):
    return (
        db.session.execute(
            select(CaseDecision).where(CaseDecision.case_id == case.id).order_by(CaseDecision.id)
        )
        .scalars()
        .all()
    )


def _check_sequence(case, corrects_id):
    decisions = _decisions(case)
    current = decisions[-1] if decisions else None
    if corrects_id is None:
        if current is not None:
            raise Conflict(
                "case_decided",
                f"This case was decided (decision {current.id}); a correction names it "
                "in corrects_id.",
                "该案件已作出决定；如需更正，请在 corrects_id 中注明被更正的决定。",
                errors={"decision_id": current.id},
            )
        return
    if corrects_id not in {d.id for d in decisions}:
        raise Invalid(errors={"corrects_id": ["Not a decision of this case."]})
    if corrects_id != current.id:
        raise Conflict(
            "decision_superseded",
            f"Decision {corrects_id} was corrected already; correct the latest, {current.id}.",
            "该决定已被更正，请针对最新的决定更正。",
            errors={"decision_id": current.id},
        )


def _ensure_heard(case, today, measure):
    """The cadre may answer until the deadline, in as many answers as they need (a
    first word, then the papers): only a decision that cannot harm them comes earlier."""
    if today > case.answer_deadline or measure in HARMLESS:
        return
    raise Conflict(
        "answer_period_open",
        f"The cadre may answer until {case.answer_deadline}; decide after that (only a "
        "commendation or a dismissal may come earlier).",
        f"当事干部可在 {case.answer_deadline} 前答复；期满后方可作出决定（表扬或不予处理除外）。",
        errors={"answer_deadline": case.answer_deadline.isoformat()},
    )


def _ensure_recallable(posting, today):
    serving = (
        posting.status == "active"
        and posting.start_date <= today
        and (posting.end_date is None or posting.end_date >= today)
    )
    if not serving:
        raise Conflict(
            "posting_not_active",
            f"Posting {posting.id} is not in force today ({posting.status}, "
            f"{posting.start_date} to {posting.end_date or 'open end'}); there is nothing "
            "to recall.",
            "该任职当前不在岗，无从召回。",
            errors={
                "status": posting.status,
                "start_date": posting.start_date.isoformat(),
                "end_date": _iso(posting.end_date),
            },
        )


def _recall(posting, decision, today, consequences, actor):
    # The recall ends the posting from today on: no day of a closed month changes (a
    # month can be closed only once it is over), so there is no closure to consult.
    diff = audit.changes(posting, {"status": "recalled", "end_date": today})
    posting.status, posting.end_date = "recalled", today
    obligation = ReplacementObligation(
        unit_id=posting.unit_id,
        recalled_posting=posting,
        decision_id=decision.id,
        deadline=today + timedelta(days=consequences["replacement_days"]),
        status="open",
    )
    db.session.add(obligation)
    db.session.flush()
    audit.record(
        "posting.recall",
        posting,
        actor=actor,
        summary={"case_id": decision.case_id, "decision_id": decision.id, **diff},
    )
    audit.record(
        "replacement.open",
        obligation,
        actor=actor,
        summary={
            "unit_id": obligation.unit_id,
            "recalled_posting_id": posting.id,
            "decision_id": decision.id,
            "deadline": obligation.deadline.isoformat(),
        },
    )


def years_after(day, years):
    if not years:
        return None
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February, in a year without one
        return date(day.year + years, 2, 28)


def _iso(day):
    return day.isoformat() if day is not None else None


def obligation_of(case):
    """The replacement a recall in this case left owed, if any."""
    return db.session.execute(
        select(ReplacementObligation).where(
            ReplacementObligation.decision_id.in_(
                select(CaseDecision.id).where(CaseDecision.case_id == case.id)
            )
        )
    ).scalar_one_or_none()


def corrected_by_id(decision):
    return next((d.id for d in decision.case.decisions if d.corrects_id == decision.id), None)


def notice(decision):
    """What a decision did not change, said where it is read."""
    obligation = obligation_of(decision.case)
    if obligation is None or decision.id <= obligation.decision_id:
        return None
    if decision.measure == "recall":
        return {
            "code": "recall_in_effect",
            "message": "The posting was recalled already; this decision re-affirms it.",
            "message_zh": "该任职此前已被召回，本决定予以维持。",
        }
    return {
        "code": "recall_stands",
        "message": "The earlier recall is not undone: the posting stays ended and the "
        "unit still owes a replacement. To reinstate the cadre, post them again (that "
        "posting can fulfil the obligation). No promotion bar applies under this measure.",
        "message_zh": "此前的召回不因本决定撤销：该任职仍为已召回，派出单位仍须选派接替人员。"
        "如需恢复该干部驻村，请重新任职（该任职可用于履行接替义务）。本决定不附带提拔限制。",
    }
