"""Submitting check-ins from phones: idempotent, verified, evidence kept intact.

A resend with the same client_id and the same content returns the original (and adds
any photo that was missing before); the same client_id with other content is refused.
The unique client_id makes concurrent resends safe: the loser of the race finds the
winner's row and answers as for a resend.
"""

import hashlib
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from server import auth
from server.errors import Conflict, Invalid
from server.extensions import db
from server.models import Checkin, CheckinReview, Flag, Household, Posting
from server.models.checkins import MAX_PHOTOS
from server.models.postings import RESIDENT_ROLES
from server.models.regions import subtree_prefix
from server.models.types import utcnow
from server.services import audit, evidence, leaves, rollcalls, seals, verification
from server.services.audit import canonical_json
from server.services.policies import checkin_policy

# What identifies the content of a check-in; a resend must repeat these exactly.
CONTENT_FIELDS = (
    "kind",
    "household_id",
    "latitude",
    "longitude",
    "accuracy_m",
    "altitude_m",
    "captured_at",
    "device_id",
    "mock_location",
    "note",
    "challenge_id",
)


@dataclass
class Submission:
    checkin: Checkin
    created: bool


def content_hash(fields):
    content = {}
    for key in CONTENT_FIELDS:
        value = fields.get(key)
        content[key] = value.isoformat() if hasattr(value, "isoformat") else value
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def submit(*, actor, photo_files, target=None, **fields):
    """Record one check-in. `photo_files` are the uploaded bytes, in order. `target`
    (posting, household) is given for an inspector's arrival; otherwise it is the
    cadre's own posting that covers the day."""
    digest = content_hash(fields)
    existing = _by_client_id(fields["client_id"])
    if existing is not None:
        return _resend(actor, existing, digest, photo_files)
    uploads = _inspect(photo_files)
    try:
        checkin = _create(actor, fields, digest, uploads, target)
    except IntegrityError:
        # A concurrent request with the same client_id committed first.
        db.session.rollback()
        existing = _by_client_id(fields["client_id"])
        if existing is None:
            raise
        return _resend(actor, existing, digest, photo_files)
    return Submission(checkin, True)


def _by_client_id(client_id):
    return db.session.execute(
        db.select(Checkin).where(Checkin.client_id == client_id)
    ).scalar_one_or_none()


def _inspect(photo_files):
    if len(photo_files) > MAX_PHOTOS:
        raise Invalid(
            "too_many_photos",
            f"At most {MAX_PHOTOS} photos per check-in.",
            f"每次签到最多 {MAX_PHOTOS} 张照片。",
            errors={"photos": [f"At most {MAX_PHOTOS}."]},
        )
    return evidence.inspect_uploads(photo_files)


def _create(actor, fields, digest, uploads, target=None):
    captured_at = fields["captured_at"]
    local_time = captured_at.astimezone(ZoneInfo(current_app.config["TIMEZONE"]))
    local_date = local_time.date()
    posting, household = target or _target(actor, fields, local_date)
    policy = checkin_policy(posting.village, local_date)
    if not uploads and policy["photo_required"].get(fields["kind"]):
        raise Invalid(
            "photo_required",
            "This check-in needs a photo.",
            "此类签到需要上传照片。",
            errors={"photos": ["At least one photo is required."]},
        )
    checkin = Checkin(
        client_id=fields["client_id"],
        content_hash=digest,
        cadre_id=actor.id,
        posting=posting,
        village=posting.village,
        household=household,
        kind=fields["kind"],
        latitude=fields["latitude"],
        longitude=fields["longitude"],
        accuracy_m=fields["accuracy_m"],
        altitude_m=fields.get("altitude_m"),
        captured_at=captured_at,
        captured_offset_min=int(captured_at.utcoffset().total_seconds() // 60),
        local_date=local_date,
        local_time=local_time.time().replace(tzinfo=None),
        received_at=utcnow(),
        device_id=fields["device_id"],
        mock_location=fields.get("mock_location"),
        note=fields.get("note"),
        verdict="accepted",
        # Known empty: attaching photos and flags needs no query to load them first.
        photos=[],
        flags=[],
    )
    set_committed_value(checkin, "reviews", [])  # nobody has reviewed it yet
    db.session.add(checkin)
    added = evidence.attach_photos(checkin, uploads)
    # The rules run before the row is written (see verification.assess), so it is
    # inserted once with its verdict and flags instead of inserted and then updated.
    with db.session.no_autoflush:
        flags = verification.assess(checkin, policy)
        _apply_flags(checkin, flags)
        _learn_household_position(checkin, flags)
    db.session.flush()  # the client_id race is decided here
    leaves.close_on_return(checkin)
    if fields.get("challenge_id") is not None:
        rollcalls.answer(actor=actor, challenge_id=fields["challenge_id"], checkin=checkin)
    audit.record(
        "checkin.submit",
        checkin,
        actor=actor,
        summary={
            "client_id": checkin.client_id,
            "verdict": checkin.verdict,
            "flags": [f["code"] for f in flags],
            "photos": [p.sha256 for p in added],
            "seal": seals.checkin_seal(checkin),
        },
    )
    _commit_keeping_loaded()
    return checkin


def _commit_keeping_loaded():
    """Commit without expiring what the session holds: the answer shows exactly the rows
    just written (the ids were read back at the flush; no value comes from the
    database), so reading them again would only cost queries. A caller that goes on
    working in the same session after this (a batch) expires them itself."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def _target(actor, fields, local_date):
    """The posting (and household) a check-in counts for: active, and covering the day."""
    active = db.select(Posting).where(
        Posting.cadre_id == actor.id,
        Posting.status == "active",
        Posting.start_date <= local_date,
        or_(Posting.end_date.is_(None), Posting.end_date >= local_date),
    )
    if fields["kind"] != "household_visit":
        posting = db.session.execute(
            # The village comes along: the policy and the rules read it next.
            active.where(Posting.role.in_(RESIDENT_ROLES)).options(joinedload(Posting.village))
        ).scalar_one_or_none()
        if posting is None:
            raise _no_posting()
        return posting, None
    household = db.session.get(Household, fields["household_id"])
    if household is None or actor not in household.cadres:
        raise Invalid(
            "household_not_found",
            "No such household is paired with you.",
            "没有与您结对的该农户。",
            errors={"household_id": ["Not a household paired with you."]},
        )
    posting = (
        db.session.execute(
            active.where(Posting.village_id == household.village_id).order_by(
                Posting.role == "paired_aid"
            )
        )
        .scalars()
        .first()
    )
    if posting is None:
        raise _no_posting()
    return posting, household


def _no_posting():
    return Conflict(
        "no_active_posting",
        "You have no active posting this check-in could count for.",
        "您当前没有可用于签到的在岗任职。",
    )


def _apply_flags(checkin, flags):
    present = {f.code for f in checkin.flags}
    for flag in flags:
        if flag["code"] in present:
            continue
        checkin.flags.append(
            Flag(code=flag["code"], severity=flag["severity"], details=flag["details"])
        )
        present.add(flag["code"])
    if checkin.flags and checkin.verdict == "accepted":
        checkin.verdict = "flagged"


def _learn_household_position(checkin, flags):
    household = checkin.household
    if household is None or household.latitude is not None:
        return
    if flags:
        return  # learned only from a visit nothing at all is suspicious about
    household.latitude, household.longitude = checkin.latitude, checkin.longitude


def _resend(actor, existing, digest, photo_files):
    # Lock the row: concurrent resends that add the same photo take turns, and the
    # later ones find it attached (PostgreSQL; SQLite serializes writers anyway).
    db.session.refresh(existing, with_for_update=True)
    db.session.expire(existing, ["photos", "flags"])
    if existing.cadre_id != actor.id or existing.content_hash != digest:
        raise Conflict(
            "checkin_conflict",
            "A different check-in was already sent with this client_id.",
            "该 client_id 已用于另一条不同的签到记录。",
            errors={"client_id": ["Already used for different content."]},
        )
    uploads = _inspect(photo_files)
    restored = evidence.restore_missing_files(existing, uploads)
    added = evidence.attach_photos(existing, uploads)
    if not added and not restored:
        return Submission(existing, False)
    policy = checkin_policy(existing.village, existing.local_date)
    flags = verification.assess_photos(existing, added, policy)
    _apply_flags(existing, flags)
    audit.record(
        "checkin.resend",
        existing,
        actor=actor,
        summary={
            "photos_added": [p.sha256 for p in added],
            "files_restored": restored,
            "flags": [f["code"] for f in flags],
        },
    )
    db.session.commit()
    return Submission(existing, False)


# ---------------------------------------------------------------- reading


def get(*, actor, checkin_id):
    return auth.get_visible(Checkin, checkin_id, actor)


def list_(
    *,
    actor,
    posting_id=None,
    cadre_id=None,
    within=None,
    date_from=None,
    date_to=None,
    verdict=None,
    flag=None,
    kind=None,
):
    stmt = auth.scoped(db.select(Checkin), Checkin, actor)
    if posting_id is not None:
        stmt = stmt.where(Checkin.posting_id == posting_id)
    if cadre_id is not None:
        stmt = stmt.where(Checkin.cadre_id == cadre_id)
    if within:
        stmt = stmt.where(Checkin.village_id.in_(auth.subtree_ids(subtree_prefix(within))))
    if date_from:
        stmt = stmt.where(Checkin.local_date >= date_from)
    if date_to:
        stmt = stmt.where(Checkin.local_date <= date_to)
    if verdict:
        stmt = stmt.where(Checkin.verdict == verdict)
    if kind:
        stmt = stmt.where(Checkin.kind == kind)
    if flag:
        stmt = stmt.where(Checkin.id.in_(db.select(Flag.checkin_id).where(Flag.code == flag)))
    # A page of check-ins loads its photos, flags and villages in three queries, not per row.
    stmt = stmt.options(
        selectinload(Checkin.photos),
        selectinload(Checkin.flags),
        selectinload(Checkin.village),
        selectinload(Checkin.reviews).selectinload(CheckinReview.reviewer),
    )
    return stmt.order_by(Checkin.captured_at.desc(), Checkin.id.desc())
