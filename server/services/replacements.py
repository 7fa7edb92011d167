"""What a recall leaves owed: the dispatching unit must send a replacement to the village
by the deadline. The obligation is met by naming the new posting."""

from sqlalchemy import and_, not_, select

from server import auth
from server.errors import Conflict, Invalid
from server.extensions import db
from server.models import CaseDecision, Posting, ReplacementObligation
from server.models.types import utcnow
from server.services import audit
from server.services.ledger import local_today


def _overdue_clause(today):
    return and_(ReplacementObligation.status == "open", ReplacementObligation.deadline < today)


def list_(*, actor, status=None, unit_id=None, overdue=None):
    stmt = auth.scoped(select(ReplacementObligation), ReplacementObligation, actor)
    if status is not None:
        stmt = stmt.where(ReplacementObligation.status == status)
    if unit_id is not None:
        stmt = stmt.where(ReplacementObligation.unit_id == unit_id)
    if overdue is not None:
        clause = _overdue_clause(local_today())
        stmt = stmt.where(clause if overdue else not_(clause))
    return stmt.order_by(ReplacementObligation.deadline, ReplacementObligation.id)


def fulfil(*, actor, obligation_id, posting_id):
    obligation = auth.get_visible(ReplacementObligation, obligation_id, actor)
    recalled = obligation.recalled_posting
    # The unit's own department sees the obligation too; the village's department acts.
    auth.ensure_manages(actor, recalled.village)
    db.session.refresh(obligation, with_for_update=True)
    if obligation.status != "open":
        raise Conflict(
            "replacement_fulfilled",
            f"Fulfilled already, by posting {obligation.replacement_posting_id}.",
            "该接替义务已履行。",
            errors={"replacement_posting_id": obligation.replacement_posting_id},
        )
    posting = _replacement(actor, obligation, posting_id)
    obligation.status = "fulfilled"
    obligation.replacement_posting = posting
    obligation.fulfilled_at = utcnow()
    audit.record(
        "replacement.fulfil",
        obligation,
        actor=actor,
        summary={
            "recalled_posting_id": recalled.id,
            "replacement_posting_id": posting.id,
            "cadre_id": posting.cadre_id,
            "overdue": local_today() > obligation.deadline,
        },
    )
    db.session.commit()
    return obligation


def _replacement(actor, obligation, posting_id):
    """A new active posting of the same unit in the same village, from the recall on."""
    posting = db.session.execute(
        auth.scoped(select(Posting).where(Posting.id == posting_id), Posting, actor)
    ).scalar_one_or_none()
    if posting is None:
        raise Invalid(
            "posting_not_found",
            "No such posting in your scope.",
            "该任职不存在或超出您的查看范围。",
            errors={"posting_id": ["No such posting in your scope."]},
        )
    # Two obligations fulfilled by one posting at once: the second waits here, then
    # finds the posting used.
    db.session.execute(
        select(Posting.id).where(Posting.id == posting.id).with_for_update(key_share=True)
    ).all()
    recalled = obligation.recalled_posting
    reasons = []
    if posting.id == recalled.id:
        reasons.append("It is the recalled posting itself.")
    if posting.unit_id != obligation.unit_id:
        reasons.append("Another dispatching unit's posting.")
    if posting.village_id != recalled.village_id:
        reasons.append("In another village.")
    if posting.status != "active":
        reasons.append(f"Not active ({posting.status}).")
    if posting.start_date < recalled.end_date:
        reasons.append(f"Starts before the recall ({recalled.end_date}).")
    used = db.session.execute(
        select(ReplacementObligation.id).where(
            ReplacementObligation.replacement_posting_id == posting.id
        )
    ).first()
    if used is not None:
        reasons.append(f"Already the replacement for obligation {used.id}.")
    if reasons:
        raise Invalid(
            "not_a_replacement",
            "This posting does not replace the recalled one: " + " ".join(reasons),
            "该任职不符合接替要求（须为同一派出单位在同一村、召回之日或之后开始的在岗任职）。",
            errors={"posting_id": reasons},
        )
    return posting


def case_id_of(obligation):
    return db.session.get(CaseDecision, obligation.decision_id).case_id


def is_overdue(obligation):
    return obligation.status == "open" and obligation.deadline < local_today()
