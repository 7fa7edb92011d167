"""The problem list (问题清单) and its rectification ledger (整改台账): items raised by a
final finding or entered by a reviewer, followed from open to verified.

Every step is a Rectification row (who, when, what they said) plus an audit event; a
submission carries its evidence photos through the same inspection and store as
check-in photos, so its files land only if its rows commit. Reading is in
problem_queries.
"""

from sqlalchemy import select

from server import auth, storage
from server.errors import Conflict, Forbidden, Invalid
from server.extensions import db
from server.models import Posting, Problem, Rectification, Region
from server.services import audit, evidence
from server.services.lookups import region_by_code, unit_by_id
from server.services.postings import local_today
from server.services.problem_queries import get

# action -> (the states it may be taken from, the state it leads to)
TRANSITIONS = {
    "start": (("open", "reopened"), "in_rectification"),
    "submit": (("in_rectification",), "submitted"),
    "verify": (("submitted",), "verified"),
    "reopen": (("submitted", "verified"), "reopened"),
}
MAX_PHOTOS = 5

# ---------------------------------------------------------------- entering


def create(
    *,
    actor,
    village_code,
    category,
    description,
    deadline,
    posting_id=None,
    responsible_unit_id=None,
    responsible_person=None,
):
    village = region_by_code(village_code, "village_code", level="village")
    auth.ensure_manages(actor, village)
    posting = _posting_in(village, posting_id) if posting_id is not None else None
    if responsible_unit_id is not None:
        unit_by_id(responsible_unit_id, "responsible_unit_id")
    elif posting is not None:
        # The dispatching unit answers for its cadre unless the reviewer names another.
        responsible_unit_id = posting.unit_id
    if deadline < local_today():
        raise Invalid(errors={"deadline": ["Must not be before today."]})
    problem = Problem(
        village_id=village.id,
        posting_id=posting_id,
        category=category,
        description=description,
        responsible_unit_id=responsible_unit_id,
        responsible_person=responsible_person,
        deadline=deadline,
        status="open",
    )
    db.session.add(problem)
    db.session.flush()
    audit.record(
        "problem.create",
        problem,
        actor=actor,
        summary={
            "village_code": village.code,
            "posting_id": posting_id,
            "category": category,
            "responsible_unit_id": responsible_unit_id,
            "deadline": deadline.isoformat(),
        },
    )
    db.session.commit()
    return get(actor=actor, problem_id=problem.id)


def _posting_in(village, posting_id):
    posting = db.session.get(Posting, posting_id)
    if posting is None or posting.village_id != village.id:
        raise Invalid(
            "posting_not_in_village",
            "No such posting in this village.",
            "该村没有这条驻村任职记录。",
            errors={"posting_id": ["Not a posting in this village."]},
        )
    return posting


# ---------------------------------------------------------------- rectification


def start(*, actor, problem_id, note):
    problem = _locked(actor, problem_id)
    _ensure_responsible(actor, problem)
    return _step(actor, problem, "start", note)


def submit(*, actor, problem_id, note, photo_files):
    problem = _locked(actor, problem_id)
    _ensure_responsible(actor, problem)
    _ensure_from(problem, "submit")  # before decoding any photo
    return _step(actor, problem, "submit", note, _inspect(photo_files))


def verify(*, actor, problem_id, note):
    problem = _locked(actor, problem_id)
    auth.ensure_manages(actor, _village(problem))
    _ensure_from(problem, "verify")
    submitter = db.session.execute(
        select(Rectification.actor_id)
        .where(Rectification.problem_id == problem.id, Rectification.action == "submit")
        .order_by(Rectification.id.desc())
        .limit(1)
    ).scalar()
    if submitter == actor.id:
        raise Forbidden(
            "own_submission",
            "A rectification is verified by someone other than who submitted it.",
            "整改须由提交人以外的人员验收。",
        )
    return _step(actor, problem, "verify", note)


def reopen(*, actor, problem_id, note):
    problem = _locked(actor, problem_id)
    auth.ensure_manages(actor, _village(problem))
    return _step(actor, problem, "reopen", note)


def _locked(actor, problem_id):
    problem = auth.get_visible(Problem, problem_id, actor)
    # Two reviewers deciding at once take turns; the second finds the new state.
    db.session.refresh(problem, with_for_update=True)
    return problem


def _village(problem):
    return db.session.get(Region, problem.village_id)


def _ensure_responsible(actor, problem):
    """The cadre of the posting it concerns, or the department over the village."""
    if problem.posting_id is not None:
        posting = db.session.get(Posting, problem.posting_id)
        if posting.cadre_id == actor.id:
            return
    if actor.has_role("reviewer", "admin"):
        auth.ensure_manages(actor, _village(problem))
        return
    raise Forbidden(
        "not_responsible",
        "Only the responsible cadre or the department may do this.",
        "只有责任干部或组织部门可以操作。",
    )


def _ensure_from(problem, action):
    allowed, _ = TRANSITIONS[action]
    if problem.status not in allowed:
        raise Conflict(
            "problem_transition_invalid",
            f"A problem that is {problem.status} cannot be given the step {action}.",
            "问题当前状态不允许此操作。",
            errors={"status": problem.status, "action": action, "allowed_from": list(allowed)},
        )


def _inspect(photo_files):
    """The check-in pipeline's inspection, with the same configured limits."""
    if not photo_files:
        raise Invalid(
            "photo_required",
            "A rectification is submitted with photos of the result.",
            "提交整改须附整改结果照片。",
            errors={"photos": ["At least one photo is required."]},
        )
    if len(photo_files) > MAX_PHOTOS:
        raise Invalid(
            "too_many_photos",
            f"At most {MAX_PHOTOS} photos per submission.",
            f"每次提交最多 {MAX_PHOTOS} 张照片。",
            errors={"photos": [f"At most {MAX_PHOTOS}."]},
        )
    return evidence.inspect_uploads(photo_files)


def _step(actor, problem, action, note, uploads=()):
    _ensure_from(problem, action)
    before, after = problem.status, TRANSITIONS[action][1]
    step = Rectification(problem_id=problem.id, action=action, note=note, actor_id=actor.id)
    seen = set()
    for upload in uploads:
        sha = upload.facts.sha256
        if sha in seen:
            continue  # the same picture twice is one piece of evidence
        step.photos.append(evidence.photo_row(upload.facts, position=len(seen)))
        storage.stage(db.session, upload.data, sha)
        seen.add(sha)
    db.session.add(step)
    problem.status = after
    db.session.flush()
    audit.record(
        f"problem.{action}",
        problem,
        actor=actor,
        summary={
            "from": before,
            "to": after,
            "rectification_id": step.id,
            "photos": [p.sha256 for p in step.photos],
        },
    )
    db.session.commit()
    return get(actor=actor, problem_id=problem.id)
