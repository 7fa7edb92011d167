"""Serving evidence to the people allowed to see it, and recording who looked."""

from dataclasses import dataclass

from server import auth, storage
from server.errors import NotFound
from server.extensions import db
from server.models import Photo
from server.services import audit


@dataclass
class PhotoView:
    data: bytes
    mime_type: str
    filename: str


def photo_bytes(*, actor, photo_id, variant):
    photo = auth.get_visible(Photo, photo_id, actor)
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
    return PhotoView(
        storage.derived(photo.sha256, variant), "image/jpeg", f"{photo.sha256[:16]}-{variant}.jpg"
    )
