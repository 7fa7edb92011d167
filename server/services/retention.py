"""Retention: evidence past its retention period loses what is personal in it.

`flask retention purge`, run daily (cron, a systemd timer). A check-in older than
RETENTION_DAYS (config.py; 1096 days, three years, by default) that nothing holds
(retention_holds.py) loses its position (latitude, longitude, accuracy, altitude) and the
positions its flags recorded; its photos lose their bytes (the original and the derived
images leave the evidence store) and their EXIF positions. Rectification photos follow
the same rule by their own age, once their problem is verified.

What stays is what the record needs and is not personal: the rows, days and times,
verdicts, reviews, flags with their measured distances, and each photo's SHA-256 and
perceptual hash, so a picture sent again years later is still `photo_reused`.
`purged_at` marks the rows; a purged photo answers 410 `photo_purged`.

A check-in is old when both its attendance day and its arrival at the server are before
the cut-off: the day is what it is about, and a device clock set back cannot make a
fresh upload old. The period is configuration, not policy: it is the deployment's legal
rule, not a jurisdiction's attendance rule, and a policy version dated back must not
delete evidence early. `before` can only move the cut-off earlier.

Each batch updates its rows and appends a `retention.purge` audit event (ids, hashes) in
one transaction; the files go after the commit, and only those no remaining row needs.
A crash in between leaves files of purged rows (or only their derived images), which
`flask storage check` reports and `--repair` deletes. One `retention.run` event then
records the run: the cut-off, the totals and the files deleted.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from time import sleep
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select, update

from server import storage
from server.errors import Invalid
from server.extensions import db
from server.models import (
    CaseAttachment,
    Checkin,
    Finding,
    Flag,
    Photo,
    Problem,
    Rectification,
)
from server.models.types import utcnow
from server.services import audit, retention_holds
from server.services.retention_holds import CHUNK
from server.storage.base import in_use

BATCH = 1000  # check-ins (or rectification photos) per transaction
_RETRIES = 2  # reads of a page whose holds changed meanwhile, before it waits a run
_BUSY_TRIES = 20  # tries (about 15 s in all) to find the chain's lock free for a page
LIST_LIMIT = 200  # ids listed in full in an audit event; beyond that, a range and a hash
# Flags that recorded a position of the check-in or its photo (verification.py).
POSITION_DETAILS = {
    "repeated_position": ("latitude", "longitude"),
    "exif_gps_mismatch": ("exif_latitude", "exif_longitude"),
}


@dataclass
class PurgeReport:
    cutoff: date  # evidence of days before this one is old
    dry_run: bool
    checkins: list = field(default_factory=list)
    photos: list = field(default_factory=list)  # of those check-ins, and rectification photos
    files_deleted: list = field(default_factory=list)  # shas no remaining row needs
    files_kept: list = field(default_factory=list)  # shas other rows still need
    batches: int = 0
    held: int = 0  # old check-ins kept: an open flag, a case... (retention_holds.py)
    deferred: int = 0  # check-ins left for the next run (their holds kept changing)
    deferred_photos: int = 0  # rectification photos, likewise


def default_cutoff(now=None) -> date:
    days = current_app.config["RETENTION_DAYS"]
    if days < 1:
        raise Invalid(
            "retention_days_invalid",
            f"RETENTION_DAYS must be a positive number of days, not {days}.",
            f"RETENTION_DAYS 必须是正整数天数，而不是 {days}。",
        )
    today = (now or utcnow()).astimezone(ZoneInfo(current_app.config["TIMEZONE"])).date()
    return today - timedelta(days=days)


def purge(*, now=None, before=None, dry_run=False, batch_size=BATCH) -> PurgeReport:
    """Purge what is older than the cut-off (or report what would go, with dry_run)."""
    now = now or utcnow()
    report = PurgeReport(_cutoff(now, before), dry_run)
    received_before = datetime.combine(
        report.cutoff, time(), ZoneInfo(current_app.config["TIMEZONE"])
    ).astimezone(UTC)
    old = db.session.scalar(
        select(func.count()).select_from(_old_checkins(report.cutoff, received_before).subquery())
    )
    old_checkins = partial(_old_checkins, report.cutoff, received_before, unheld=True)
    _pages(report, now, old_checkins, lambda: retention_holds.held().checkins, batch_size,
           photos_of=_photos_of_checkins)  # fmt: skip
    old_photos = partial(_old_rectification_photos, received_before)
    _pages(report, now, old_photos, lambda: retention_holds.held().photos, batch_size,
           photos_of=None)  # fmt: skip
    report.held = old - len(report.checkins) - report.deferred
    if dry_run:
        _files_of_dry_run(report)
        return report
    # Bytes shared across batches are kept by the first and deleted by the last.
    report.files_kept = sorted(set(report.files_kept) - set(report.files_deleted))
    report.files_deleted.sort()
    if report.batches:
        _record_run(report)
    return report


def _cutoff(now, before):
    latest = default_cutoff(now)
    if before is not None and before > latest:
        raise Invalid(
            "retention_cutoff_too_late",
            f"--before may only be on or before {latest} (RETENTION_DAYS ago).",
            f"--before 不得晚于 {latest}（即保存期限之前）。",
            errors={"before": before.isoformat(), "latest": latest.isoformat()},
        )
    return before or latest


def _old_checkins(cutoff, received_before, after=0, unheld=False):
    """Check-ins past the cut-off, not purged yet; `unheld`: without an open flag and
    not a draft finding's arrival (the holds that are cheapest to ask the database)."""
    stmt = select(Checkin.id).where(
        Checkin.id > after,
        Checkin.purged_at.is_(None),
        Checkin.local_date < cutoff,
        Checkin.received_at < received_before,
    )
    if unheld:
        open_flag = select(Flag.id).where(Flag.checkin_id == Checkin.id, Flag.status == "open")
        draft_arrival = select(Finding.id).where(
            Finding.arrival_checkin_id == Checkin.id, Finding.status == "draft"
        )
        stmt = stmt.where(~open_flag.exists(), ~draft_arrival.exists())
    return stmt.order_by(Checkin.id)


def _old_rectification_photos(received_before, after):
    return (
        select(Photo.id)
        .join(Rectification, Rectification.id == Photo.rectification_id)
        .join(Problem, Problem.id == Rectification.problem_id)
        .where(
            Photo.id > after,
            Photo.purged_at.is_(None),
            Photo.received_at < received_before,
            Problem.status == "verified",  # an open problem still needs its evidence
        )
        .order_by(Photo.id)
    )


def _pages(report, now, query, holds, size, photos_of):
    """Purge the ids `query` finds that `holds()` does not hold, `size` rows read at a
    time, in id order (each page starts after the last id read, so purged rows and held
    ones are never read twice).

    The holds take a while to read at province scale (every case's and recommendation's
    evidence, every standing flag), so they are read once and kept while nothing that
    committed since can add one: every write that can add a hold appends an audit event
    in its own transaction, holding the chain's lock to its commit (Reading.stale). A
    batch updates its rows, then takes that lock and asks once more; if something came
    in meanwhile, it rolls back and reads the holds and the page again, and after
    _RETRIES tries leaves the page to the next run. So a case that commits while a run
    goes on keeps what it cites. The batch never waits for the lock while it holds rows
    (a writer that took the lock first may be waiting for them): it rolls back and tries
    again a moment later."""
    after, tries, busy, current = 0, 0, 0, None
    while True:
        ids = db.session.scalars(query(after).limit(size)).all()
        if ids and (current is None or current.stale()):
            # Only with something to purge. The page is read again after the mark: its
            # own conditions (an open flag) are state too.
            current = retention_holds.Reading(audit.head()[0], holds)
            ids = db.session.scalars(query(after).limit(size)).all()
        if not ids:
            db.session.commit()  # end the reading transaction
            return
        free = [i for i in ids if i not in current.ids]
        if free:
            outcome = _batch(report, now, free, photos_of, current)
        else:
            db.session.commit()  # all held: end the page's reading transaction
            outcome = "done"
        if outcome == "busy" and busy < _BUSY_TRIES:
            busy += 1
            sleep(min(0.05 * 2**busy, 1.0))
            continue
        if outcome in ("stale", "busy"):
            tries, current = tries + 1, None
            if tries <= _RETRIES and outcome == "stale":
                continue  # the same page again, with the holds read afresh
            _defer(report, free, photos_of)
        tries, busy, after = 0, 0, ids[-1]
        if len(ids) < size:
            return


def _defer(report, free, photos_of):
    if photos_of is not None:
        report.deferred += len(free)
    else:
        report.deferred_photos += len(free)


def _photos_of_checkins(checkin_ids):
    return db.session.execute(
        select(Photo.id, Photo.sha256).where(
            Photo.checkin_id.in_(checkin_ids), Photo.purged_at.is_(None)
        )
    ).all()


def _photos_by_id(photo_ids):
    return db.session.execute(select(Photo.id, Photo.sha256).where(Photo.id.in_(photo_ids))).all()


def _batch(report, now, free, photos_of, holds):
    """Purge one page of check-ins (photos_of given) or rectification photos: "done",
    or rolled back as "stale" (the holds may have changed) or "busy" (the chain's lock
    was taken)."""
    checkin_ids = free if photos_of is not None else []
    photos = (photos_of or _photos_by_id)(free)
    if report.dry_run:
        _count(report, checkin_ids, photos)
        db.session.rollback()  # nothing written; on SQLite the transaction holds the lock
        return "done"
    if checkin_ids:
        # Not purged meanwhile (by a run that overlapped this one): those stay as they are.
        checkin_ids = sorted(
            db.session.scalars(
                update(Checkin)
                .where(Checkin.id.in_(checkin_ids), Checkin.purged_at.is_(None))
                .values(
                    latitude=None, longitude=None, accuracy_m=None, altitude_m=None, purged_at=now
                )
                .returning(Checkin.id)
            )
        )
        _clear_flag_positions(checkin_ids)
    if photos:
        purged = set(
            db.session.scalars(
                update(Photo)
                .where(Photo.id.in_([photo.id for photo in photos]), Photo.purged_at.is_(None))
                .values(exif_latitude=None, exif_longitude=None, purged_at=now)
                .returning(Photo.id)
            )
        )
        photos = [photo for photo in photos if photo.id in purged]
    shas = sorted({photo.sha256 for photo in photos})
    if not audit.try_lock_chain():  # held to the commit: no hold can commit meanwhile
        db.session.rollback()
        return "busy"
    if holds.stale():
        db.session.rollback()
        return "stale"
    _count(report, checkin_ids, photos)
    audit.record(
        "retention.purge",
        object_type="retention",
        object_id=report.cutoff.isoformat(),
        summary={
            "cutoff": report.cutoff.isoformat(),
            "checkins": listing(checkin_ids),
            "photos": listing([photo.id for photo in photos]),
            "sha256": listing(shas),
        },
    )
    db.session.commit()
    _delete_files(report, shas)
    return "done"


def _count(report, checkin_ids, photos):
    report.batches += 1
    report.checkins += checkin_ids
    report.photos += [photo.id for photo in photos]


def _clear_flag_positions(checkin_ids):
    flags = db.session.scalars(
        select(Flag).where(Flag.checkin_id.in_(checkin_ids), Flag.code.in_(POSITION_DETAILS))
    )
    for flag in flags:
        keys = POSITION_DETAILS[flag.code]
        flag.details = {**flag.details, **{key: None for key in keys if key in flag.details}}


def _delete_files(report, shas):
    """After the commit: each file no remaining row needs. storage.remove asks again
    once the file is set aside, so an upload of the same bytes meanwhile keeps it."""
    needed = _needed(shas)
    for sha in shas:
        if sha not in needed and storage.remove(sha, needed=partial(in_use, db.session, sha)):
            report.files_deleted.append(sha)
        else:
            report.files_kept.append(sha)


def _needed(shas, ignoring=()):
    """The shas a photo row not purged (other than `ignoring`) or an attachment names."""
    found = set()
    for start in range(0, len(shas), CHUNK):
        chunk = shas[start : start + CHUNK]
        live = db.session.execute(
            select(Photo.sha256, Photo.id).where(Photo.sha256.in_(chunk), Photo.purged_at.is_(None))
        )
        found |= {sha for sha, photo_id in live if photo_id not in ignoring}
        found |= set(
            db.session.scalars(
                select(CaseAttachment.sha256).where(CaseAttachment.sha256.in_(chunk))
            )
        )
    return found


def _files_of_dry_run(report):
    photo_ids = sorted(report.photos)
    shas = set()
    for start in range(0, len(photo_ids), CHUNK):
        chunk = photo_ids[start : start + CHUNK]
        shas |= set(db.session.scalars(select(Photo.sha256).where(Photo.id.in_(chunk))))
    shas = sorted(shas)
    needed = _needed(shas, ignoring=set(photo_ids))
    report.files_kept = [sha for sha in shas if sha in needed]
    report.files_deleted = [sha for sha in shas if sha not in needed]


def _record_run(report):
    audit.record(
        "retention.run",
        object_type="retention",
        object_id=report.cutoff.isoformat(),
        summary={
            "cutoff": report.cutoff.isoformat(),
            "retention_days": current_app.config["RETENTION_DAYS"],
            "batches": report.batches,
            "checkins": len(report.checkins),
            "photos": len(report.photos),
            "files_deleted": listing(report.files_deleted),
            "files_kept": len(report.files_kept),
            "deferred": report.deferred,
            "deferred_photos": report.deferred_photos,
        },
    )
    db.session.commit()


def listing(values):
    """Values for an audit event: all of them when few; else how many, the first and
    last, and the SHA-256 of the sorted list joined by commas (to check against the
    rows' purged_at)."""
    values = sorted(values)
    if len(values) <= LIST_LIMIT:
        return {"count": len(values), "items": values}
    joined = ",".join(str(value) for value in values)
    return {
        "count": len(values),
        "first": values[0],
        "last": values[-1],
        "list_sha256": hashlib.sha256(joined.encode()).hexdigest(),
    }
