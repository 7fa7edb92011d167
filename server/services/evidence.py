"""Evidence photos: attached to check-ins (files land only if the row commits), and
served to the people allowed to see them, recording who looked."""

import copy
from dataclasses import dataclass

from flask import current_app, g, has_request_context

from server import auth, storage
from server.errors import AppError, Invalid, NotFound
from server.extensions import db
from server.models import Photo
from server.models.checkins import MAX_PHOTOS
from server.models.types import utcnow
from server.services import audit, photos


class PhotoPurged(AppError):
    status_code = 410
    error = "photo_purged"
    message = "The photo was deleted at the end of its retention period; its hashes remain."
    message_zh = "该照片已超过保存期限并被删除，仅保留其哈希值。"


@dataclass
class Upload:
    data: bytes
    facts: object  # photos.PhotoFacts


def inspect_uploads(photo_files):
    """Every uploaded photo inspected with the configured limits, in order; the first
    unusable one is refused with its index (`photo_index`) in the error."""
    inspected = []
    for index, data in enumerate(photo_files):
        fact = _inspect_once(data)
        if isinstance(fact, AppError):
            refused = copy.copy(fact)  # the same refusal, naming this item's photo
            refused.errors = {**fact.errors, "photo_index": index}
            raise refused
        inspected.append(Upload(data, fact))
    return inspected


def _inspect_once(data):
    """One decode per photo per request: an offline batch may name one photo from many
    items (up to 150 references), and each decode can cost seconds for a large picture.
    Keyed by the bytes object itself, which lives as long as the request."""
    memo = g.setdefault("inspected_photos", {}) if has_request_context() else {}
    known = memo.get(id(data))
    if known is not None and known[0] is data:
        return known[1]
    cfg = current_app.config
    try:
        fact = photos.inspect(
            data, max_bytes=cfg["MAX_PHOTO_BYTES"], max_pixels=cfg["MAX_PHOTO_PIXELS"]
        )
    except AppError as exc:
        fact = exc
    memo[id(data)] = (data, fact)
    return fact


def attach_photos(checkin, uploads):
    """Photo rows for new pictures (skipping ones already attached), files staged so
    they land on disk only if the transaction commits. The rows are flushed with the
    caller's next flush: no rule needs them in the database (a check-in's own photos
    never count against it), and one flush fewer is a millisecond less a check-in."""
    have = {p.sha256 for p in checkin.photos}
    added = []
    for upload in uploads:
        fact = upload.facts
        if fact.sha256 in have:
            continue
        if len(checkin.photos) >= MAX_PHOTOS:
            raise Invalid(
                "too_many_photos",
                f"At most {MAX_PHOTOS} photos per check-in.",
                f"每次签到最多 {MAX_PHOTOS} 张照片。",
            )
        photo = photo_row(fact, position=len(checkin.photos))
        checkin.photos.append(photo)
        storage.stage(db.session, upload.data, fact.sha256)
        have.add(fact.sha256)
        added.append(photo)
    return added


def restore_missing_files(checkin, uploads):
    """A crash between commit and moving the file leaves a row without its file; the
    phone's retry carries the same bytes, so put them back."""
    # A purged photo stays purged: its bytes are not taken back, even when resent.
    attached = {p.sha256 for p in checkin.photos if p.purged_at is None}
    restored = []
    for upload in uploads:
        sha = upload.facts.sha256
        if sha in attached and not storage.exists(sha):
            storage.stage(db.session, upload.data, sha)
            restored.append(sha)
    return restored


def photo_row(fact, position):
    return Photo(**fact.columns(), position=position, received_at=utcnow())


@dataclass
class PhotoView:
    data: bytes
    mime_type: str
    filename: str


def photo_bytes(*, actor, photo_id, variant):
    photo = auth.get_visible(Photo, photo_id, actor)
    if photo.purged_at is not None:
        # Even if other rows' live copies keep the same bytes in the store.
        raise PhotoPurged(errors={"purged_at": photo.purged_at.isoformat()})
    if not storage.exists(photo.sha256):
        raise NotFound(
            "evidence_file_missing",
            "The photo's file is missing from the evidence store.",
            "证据照片文件缺失。",
        )
    if variant == "original":
        data = storage.read(photo.sha256)
        # Originals carry positions and faces (personal information): every look is logged.
        audit.record("photo.view_original", photo, actor=actor, summary={"sha256": photo.sha256})
        db.session.commit()
        extension = {"jpeg": "jpg"}.get(photo.format, photo.format)
        return PhotoView(data, photo.mime_type, f"{photo.sha256[:16]}.{extension}")
    if variant == "display":
        # A display image shows the scene (faces, homes): its views are recorded too.
        # Thumbnails in lists are not, or the log would drown in them.
        audit.record("photo.view_display", photo, actor=actor, summary={"sha256": photo.sha256})
        db.session.commit()
    return PhotoView(
        storage.derived(photo.sha256, variant), "image/jpeg", f"{photo.sha256[:16]}-{variant}.jpg"
    )
