"""Recommendations whose evidence was corrected: a closed month reopened (its frozen
rows no longer stand) or a finding amended to another outcome (the amendment stands
for it). A rule's
proposal on such evidence must not linger as if it were still true, so it is set aside
by the system, audited like any set-aside; the rules propose again from the corrected
evidence when it is final (a new closure, the amendment)."""

from sqlalchemy import select

from server import auth
from server.extensions import db
from server.models import Finding, MonthClosure, Posting, Recommendation
from server.services import audit

SET_ASIDE = "recommendation.set_aside"


def cited(evidence, kind):
    """The ids of the closures (kind "month_closure") or findings an evidence list cites."""
    ids = set()
    for item in evidence or []:
        if not isinstance(item, dict):
            continue
        if kind == "month_closure" and item.get("type") == "ledger_month":
            ids.add(item.get("closure_id"))
        elif item.get("type") == kind:
            ids.add(item.get("id"))
    return ids - {None}


def stale_reason(evidence):
    """Why the evidence no longer stands (a code), or None."""
    closures = cited(evidence, "month_closure")
    if (
        closures
        and db.session.execute(
            select(MonthClosure.id).where(
                MonthClosure.id.in_(closures), MonthClosure.status != "closed"
            )
        ).first()
    ):
        return "closure_reopened"
    for finding_id in cited(evidence, "finding"):
        finding = db.session.get(Finding, finding_id)
        if finding is not None and _standing(finding).outcome != finding.outcome:
            return "finding_amended"
    return None


def _standing(finding):
    """The final finding at the end of finding's chain of amendments."""
    while True:
        later = db.session.scalars(
            select(Finding)
            .where(Finding.amends_id == finding.id, Finding.status == "final")
            .order_by(Finding.id)
        ).first()
        if later is None:
            return finding
        finding = later


def after_reopen(closure, *, actor):
    """Called by month_close.reopen (the caller commits)."""
    villages = auth.subtree_ids(closure.region.prefix)
    postings = select(Posting.id).where(Posting.village_id.in_(villages))
    return _set_aside(postings, "month_closure", {closure.id}, "closure_reopened", actor)


def after_amendment(finding, *, actor):
    """Called when an amending finding becomes final (the caller commits). Only a change
    of outcome makes the proposals from earlier versions stale: the same absence amended
    (a note, the problems) is still the absence they answer."""
    chain, earlier = set(), finding.amends_id
    while earlier is not None:
        chain.add(earlier)
        earlier = db.session.get(Finding, earlier).amends_id
    changed = {
        f.id
        for f in db.session.scalars(select(Finding).where(Finding.id.in_(chain)))
        if f.outcome != finding.outcome
    }
    posting = select(Posting.id).where(Posting.id == finding.assignment.posting_id)
    return _set_aside(posting, "finding", changed, "finding_amended", actor)


REASONS = {
    "closure_reopened": "系统：所依据的关账已重新打开，建议随之搁置。",
    "finding_amended": "系统：所依据的检查记录已被更正，建议随之搁置。",
}


def _set_aside(postings, kind, cited_ids, code, actor):
    if not cited_ids:
        return []
    candidates = db.session.scalars(
        select(Recommendation)
        .where(Recommendation.status == "open", Recommendation.posting_id.in_(postings))
        .order_by(Recommendation.id)
        .with_for_update()
    ).all()
    stale = [r for r in candidates if cited_ids & cited(r.evidence, kind)]
    for recommendation in stale:
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
                "reason": REASONS[code],
                "by": "system",
                "cause": code,
                kind + "_ids": sorted(cited_ids & cited(recommendation.evidence, kind)),
            },
        )
    return stale
