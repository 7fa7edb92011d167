"""Cases: a matter against (or in favour of) one posting, from opening to decision.

A recommendation, or a reviewer's own initiative, opens a case. The cadre is told
(`GET /me/cases`, which the phone polls) and may explain or appeal until the deadline,
and later too, marked late (case_answers.py). A reviewer of the level the policy names
decides, with a written reason (case_decisions.py); a recall leaves the dispatching
unit a replacement to send (replacements.py).
"""

from datetime import timedelta

from sqlalchemy import case as when
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from server import auth
from server.errors import Conflict, Forbidden, Invalid
from server.extensions import db
from server.models import (
    Assignment,
    Case,
    Checkin,
    Finding,
    Flag,
    Leave,
    MonthClosure,
    Photo,
    Posting,
    Problem,
    Recommendation,
    Rectification,
)
from server.services import audit, superseded
from server.services.ledger import local_today
from server.services.policies import ancestor_codes, policy_for

# What a case may cite, and the row each type names (ledger_month names a month of the
# case's own posting instead).
EVIDENCE_MODELS = {
    "finding": Finding,
    "checkin": Checkin,
    "photo": Photo,
    "leave": Leave,
    "month_closure": MonthClosure,
}
EVIDENCE_TYPES = ("ledger_month", *EVIDENCE_MODELS)


def open_(
    *,
    actor,
    recommendation_id=None,
    posting_id=None,
    proposed_measure=None,
    summary=None,
    evidence=None,
):
    """Open a case from a recommendation (which brings posting, measure, summary and
    evidence), or on the reviewer's own initiative."""
    recommendation = None
    if recommendation_id is not None:
        recommendation = auth.get_visible(Recommendation, recommendation_id, actor)
        posting = recommendation.posting
    else:
        posting = auth.get_visible(Posting, posting_id, actor)
    auth.ensure_manages(actor, posting.village)
    refuse_own(actor, posting.cadre_id)
    if recommendation is not None:
        # Two reviewers opening the same recommendation at once: the second waits here.
        db.session.refresh(recommendation, with_for_update=True)
        _ensure_openable(recommendation)
        proposed_measure = recommendation.measure
        summary, evidence = recommendation.summary, recommendation.evidence
    else:
        evidence = _checked_evidence(actor, evidence or [], posting)
    today = local_today()
    consequences = policy_for(posting.village, today)["consequences"]
    case = Case(
        posting=posting,
        cadre_id=posting.cadre_id,
        recommendation=recommendation,
        proposed_measure=proposed_measure,
        summary=summary,
        evidence=list(evidence),
        decision_level=consequences["decision_levels"][proposed_measure],
        answer_deadline=today + timedelta(days=consequences["answer_days"]),
        status="open",
        opened_by=actor,
    )
    db.session.add(case)
    if recommendation is not None:
        recommendation.status = "case_opened"
    db.session.flush()
    audit.record(
        "case.open",
        case,
        actor=actor,
        summary={
            "posting_id": posting.id,
            "cadre_id": posting.cadre_id,
            "recommendation_id": recommendation_id,
            "proposed_measure": proposed_measure,
            "summary": summary,
            "evidence": case.evidence,
            "decision_level": case.decision_level,
            "answer_deadline": case.answer_deadline.isoformat(),
        },
    )
    db.session.commit()
    return case


def refuse_own(actor, cadre_id):
    if cadre_id == actor.id:
        raise Forbidden(
            "own_case", "Nobody handles a case about themselves.", "不能处理本人的案件。"
        )


def _ensure_openable(recommendation):
    if recommendation.status == "case_opened":
        existing = db.session.execute(
            select(Case.id).where(Case.recommendation_id == recommendation.id)
        ).scalar_one_or_none()
        raise Conflict(
            "case_exists",
            f"Case {existing} was opened from this recommendation already.",
            "该建议已立案。",
            errors={"case_id": existing},
        )
    if recommendation.status != "open":
        raise Conflict(
            "recommendation_set_aside",
            "This recommendation was set aside; open a case on your own initiative instead.",
            "该建议已搁置；如需立案，请直接针对任职立案。",
            errors={"status": recommendation.status},
        )
    reason = superseded.stale_reason(recommendation.evidence)
    if reason is not None:
        raise Conflict(
            "recommendation_stale",
            "The evidence behind this recommendation was corrected (a closed month "
            "reopened or a finding amended).",
            "该建议所依据的证据已被更正（关账已重新打开或检查记录已更正）。",
            errors={"cause": reason},
        )


def _checked_evidence(actor, items, posting):
    """Every row cited must exist, be visible to the one citing it, and be about the
    case's posting or its cadre: a case file is shown to the cadre in full, so it must
    not carry a colleague's check-ins, photos or positions."""
    problems, foreign = {}, {}
    for index, item in enumerate(items):
        model = EVIDENCE_MODELS.get(item["type"])
        if model is None:
            continue
        pk = model.__mapper__.primary_key[0]
        row = db.session.execute(
            auth.scoped(select(model).where(pk == item["id"]), model, actor)
        ).scalar_one_or_none()
        if row is None:
            problems[index] = {"id": [f"No {item['type']} {item['id']} in your scope."]}
        elif not concerns(row, posting):
            foreign[index] = {"id": [f"{item['type']} {item['id']} is about someone else."]}
    if problems:
        raise Invalid(
            "evidence_not_found",
            "Some evidence cited does not exist or is outside your scope.",
            "所引证据不存在或超出您的查看范围。",
            errors={"evidence": problems},
        )
    if foreign:
        raise Invalid(
            "evidence_not_about_case",
            "Some evidence cited is about another posting or person than the case's.",
            "所引证据与本案的任职或干部无关。",
            errors={"evidence": foreign},
        )
    return items


def concerns(row, posting):
    """Whether a cited row is about this posting or its cadre (a closed month: one that
    covers the posting's village)."""
    if isinstance(row, Checkin | Leave):
        return row.posting_id == posting.id or row.cadre_id == posting.cadre_id
    if isinstance(row, Flag):
        return concerns(row.checkin, posting)
    if isinstance(row, Photo):
        if row.checkin is not None:
            return concerns(row.checkin, posting)
        step = db.session.get(Rectification, row.rectification_id)
        return concerns(db.session.get(Problem, step.problem_id), posting)
    if isinstance(row, Finding):
        return concerns(row.assignment, posting)
    if isinstance(row, Assignment):
        target = db.session.get(Posting, row.posting_id)
        return target.id == posting.id or target.cadre_id == posting.cadre_id
    if isinstance(row, Problem):
        if row.posting_id is None:
            return row.village_id == posting.village_id
        return concerns(db.session.get(Posting, row.posting_id), posting)
    if isinstance(row, Posting):
        return row.id == posting.id or row.cadre_id == posting.cadre_id
    if isinstance(row, MonthClosure):
        return row.region.code in ancestor_codes(posting.village.code)
    return False


def get(*, actor, case_id):
    return auth.get_visible(Case, case_id, actor)


def _listed(stmt):
    return stmt.options(
        selectinload(Case.decisions),
        selectinload(Case.cadre),
        selectinload(Case.posting).selectinload(Posting.village),
    )


def list_(*, actor, status=None, measure=None, posting_id=None, cadre_id=None):
    stmt = auth.scoped(select(Case), Case, actor)
    if status is not None:
        stmt = stmt.where(Case.status == status)
    if measure is not None:
        stmt = stmt.where(Case.proposed_measure == measure)
    if posting_id is not None:
        stmt = stmt.where(Case.posting_id == posting_id)
    if cadre_id is not None:
        stmt = stmt.where(Case.cadre_id == cadre_id)
    return _listed(stmt).order_by(Case.id.desc())


def mine(*, actor):
    """The caller's cases: those still awaiting a decision first, newest first."""
    decided_last = when((Case.status == "decided", 1), else_=0)
    stmt = select(Case).where(Case.cadre_id == actor.id)
    return _listed(stmt).order_by(decided_last, Case.id.desc())


def evidence_rows(*, actor, case):
    """The case's evidence items with the rows they cite, where the viewer may see them
    (None otherwise: a row can leave one's scope after it was cited)."""
    found = []
    for item in case.evidence:
        model = EVIDENCE_MODELS.get(item.get("type"))
        row = None
        if model is not None and isinstance(item.get("id"), int):
            pk = model.__mapper__.primary_key[0]
            row = db.session.execute(
                auth.scoped(select(model).where(pk == item["id"]), model, actor)
            ).scalar_one_or_none()
        found.append((item, row))
    return found
