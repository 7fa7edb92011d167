"""On-site findings: the team's arrival, what they found, everyone's signature, and
what follows from a final finding (problem-list items, and the cross-check that marks
contradicted check-ins, the strongest evidence the system holds)."""

from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import current_app

from server import auth
from server.errors import Conflict, Forbidden, Invalid
from server.extensions import db
from server.models import Assignment, Checkin, Finding, FindingSignature, Flag, Problem
from server.models.checkins import ARRIVAL
from server.models.types import utcnow
from server.services import audit, checkins, rules, superseded
from server.services.lookups import unit_by_id
from server.services.policies import SEVERITY, checkin_policy


def _team_assignment(actor, assignment_id):
    """An assignment the actor is on the team of (and whose window has opened)."""
    assignment = auth.get_visible(Assignment, assignment_id, actor)
    if actor not in assignment.inspectors:
        raise Forbidden(
            "not_on_team",
            "Only the assigned inspectors may do this.",
            "只有被指派的督查人员可以操作。",
        )
    return assignment


def record_arrival(*, actor, assignment_id, photo_files, **fields):
    """The team's arrival: a check-in through the same evidence pipeline and flags,
    fenced by the target village."""
    assignment = _team_assignment(actor, assignment_id)
    return checkins.submit(
        actor=actor,
        photo_files=photo_files,
        target=(assignment.posting, None),
        kind=ARRIVAL,
        **fields,
    )


def create(
    *,
    actor,
    assignment_id,
    outcome,
    observed_at,
    notes=None,
    arrival_checkin_id=None,
    problems=(),
    amends_id=None,
):
    assignment = _team_assignment(actor, assignment_id)
    if observed_at > utcnow() + timedelta(minutes=5):
        raise Invalid(errors={"observed_at": ["Must not be in the future."]})
    earlier = (
        db.session.execute(
            db.select(Finding).where(Finding.assignment_id == assignment.id).order_by(Finding.id)
        )
        .scalars()
        .all()
    )
    _check_sequence(earlier, amends_id)
    if arrival_checkin_id is not None:
        _check_arrival(arrival_checkin_id, assignment)
    finding = Finding(
        assignment=assignment,
        outcome=outcome,
        observed_at=observed_at,
        notes=notes,
        arrival_checkin_id=arrival_checkin_id,
        created_by=actor,
        amends_id=amends_id,
        signatures=[FindingSignature(inspector_id=actor.id)],
    )
    for item in problems:
        if item.get("responsible_unit_id") is not None:
            unit_by_id(item["responsible_unit_id"], "problems")
        finding.problems.append(
            Problem(
                posting_id=assignment.posting_id,
                village_id=assignment.village_id,
                # Not on the list (nor shown to the cadre) until the finding is final.
                status="draft",
                **item,
            )
        )
    db.session.add(finding)
    db.session.flush()
    audit.record(
        "finding.create",
        finding,
        actor=actor,
        summary={
            "assignment_id": assignment.id,
            "outcome": outcome,
            "amends_id": amends_id,
            "problems": len(finding.problems),
        },
    )
    _finalize_if_signed(finding, actor)
    db.session.commit()
    return finding


def _check_sequence(earlier, amends_id):
    """One open draft at a time; after a final finding, only amendments of it."""
    if any(f.status == "draft" for f in earlier):
        raise Conflict(
            "finding_draft_exists",
            "A finding for this assignment awaits signatures.",
            "该任务已有待会签的检查结论。",
        )
    finals = [f for f in earlier if f.status == "final"]
    if amends_id is None and finals:
        raise Conflict(
            "finding_exists",
            "This assignment has a final finding; file an amendment that points at it.",
            "该任务已有最终结论，如需更正请提交更正记录。",
            errors={"finding_id": finals[-1].id},
        )
    if amends_id is not None and amends_id not in {f.id for f in finals}:
        raise Invalid(errors={"amends_id": ["Not a final finding of this assignment."]})


def _check_arrival(checkin_id, assignment):
    arrival = db.session.get(Checkin, checkin_id)
    team = {i.id for i in assignment.inspectors}
    if (
        arrival is None
        or arrival.kind != ARRIVAL
        or arrival.posting_id != assignment.posting_id
        or arrival.cadre_id not in team
    ):
        raise Invalid(errors={"arrival_checkin_id": ["Not this team's arrival at this target."]})


def sign(*, actor, finding_id):
    finding = auth.get_visible(Finding, finding_id, actor)
    if actor not in finding.assignment.inspectors:
        raise Forbidden(
            "not_on_team",
            "Only the assigned inspectors may sign.",
            "只有被指派的督查人员可以会签。",
        )
    if finding.status == "final" or actor.id in finding.signed_by:
        raise Conflict("already_signed", "Already signed.", "已会签。")
    finding.signatures.append(FindingSignature(inspector_id=actor.id))
    db.session.flush()
    audit.record("finding.sign", finding, actor=actor, summary={"inspector_id": actor.id})
    _finalize_if_signed(finding, actor)
    db.session.commit()
    return finding


def _finalize_if_signed(finding, actor):
    team = {i.id for i in finding.assignment.inspectors}
    if not team <= set(finding.signed_by):
        return
    finding.status, finding.finalized_at = "final", utcnow()
    for problem in finding.problems:
        problem.status = "open"
    contradicted, reopened = _cross_check(finding) if finding.outcome == "absent" else ([], [])
    audit.record(
        "finding.final",
        finding,
        actor=actor,
        summary={
            "outcome": finding.outcome,
            "contradicted_checkins": contradicted,
            "returned_to_review": reopened,
        },
    )
    if finding.amends_id is not None:
        superseded.after_amendment(finding, actor=actor)
    rules.run_for_finding(finding, actor=actor)


def _cross_check(finding):
    """Absent at T: every presence the cadre claimed in that village on the same local
    day is contradicted. Returns the ids of the check-ins marked, and of those among them
    that a reviewer had decided: the new flag sends them back to the review queue."""
    assignment = finding.assignment
    day = finding.observed_at.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).date()
    policy = checkin_policy(assignment.village, day)
    if policy["contradiction_window"] != "same_day":
        raise ValueError(policy["contradiction_window"])
    claims = (
        db.session.execute(
            db.select(Checkin).where(
                Checkin.posting_id == assignment.posting_id,
                Checkin.cadre_id == assignment.posting.cadre_id,
                Checkin.kind == "presence",
                Checkin.local_date == day,
            )
        )
        .scalars()
        .all()
    )
    marked, reopened = [], []
    for claim in claims:
        if any(f.code == "contradicted_by_inspection" for f in claim.flags):
            continue
        claim.flags.append(
            Flag(
                code="contradicted_by_inspection",
                severity=SEVERITY["contradicted_by_inspection"],
                details={
                    "finding_id": finding.id,
                    "observed_at": finding.observed_at.isoformat(),
                    "outcome": finding.outcome,
                },
            )
        )
        claim.verdict = "flagged"
        marked.append(claim.id)
        if claim.review_decision is not None:
            # Decided without this fact: the decision row stays on record, out of force.
            claim.review_decision = None
            reopened.append(claim.id)
    return marked, reopened


def get(*, actor, finding_id):
    return auth.get_visible(Finding, finding_id, actor)


def list_(*, actor, assignment_id=None, status=None):
    stmt = auth.scoped(db.select(Finding), Finding, actor)
    if assignment_id is not None:
        stmt = stmt.where(Finding.assignment_id == assignment_id)
    if status:
        stmt = stmt.where(Finding.status == status)
    return stmt.order_by(Finding.id.desc())
