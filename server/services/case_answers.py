"""The cadre's answer to a case: an explanation or an appeal, with attachments kept byte
for byte in the evidence store, like photos (a file lands only if its row commits).

An answer after the deadline is kept and marked late, never refused: a person must be
heard. Once a decision exists the case takes no more answers (a correction of the
decision is the way to act on something new).
"""

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import func, select

from server import auth, storage
from server.errors import AppError, Conflict, Forbidden, Invalid, NotFound
from server.extensions import db
from server.models import Case, CaseAnswer, CaseAttachment, CaseDecision
from server.models.types import utcnow
from server.services import audit, photos
from server.services.ledger import local_today

ANSWER_KINDS = ("explanation", "appeal")
MAX_ATTACHMENTS = 5
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
TEXT = "text/plain; charset=utf-8"
# The extensions a name may keep for each type; any other gets the first one appended,
# so that "notes.html" holding plain text downloads as "notes.html.txt".
EXTENSIONS = {
    "application/pdf": (".pdf",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "image/webp": (".webp",),
    "image/heic": (".heic", ".heif"),
    TEXT: (".txt",),
}
_IMAGE_MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "heic": "image/heic"}
# C0 controls other than tab, line feed, form feed and carriage return; and DEL.
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# Characters Windows refuses in names, replaced so a download keeps its name there.
_RESERVED = re.compile(r'[<>:"|?*]')
MAX_NAME = 200


class AttachmentEmpty(Invalid):
    error = "attachment_empty"
    message = "An attachment is empty."
    message_zh = "附件为空。"


class AttachmentTooLarge(AppError):
    status_code = 413
    error = "attachment_too_large"
    message = "An attachment is larger than 10 MB."
    message_zh = "附件超过 10 MB。"


class AttachmentUnsupportedType(AppError):
    status_code = 415
    error = "attachment_unsupported_type"
    message = "Attachments may be PDF, JPEG, PNG, WebP, HEIC or UTF-8 plain text."
    message_zh = "附件仅支持 PDF、JPEG、PNG、WebP、HEIC 或 UTF-8 纯文本。"


@dataclass(frozen=True)
class Upload:
    data: bytes
    sha256: str
    mime_type: str
    filename: str


def sniff(data: bytes) -> str:
    """The type from the bytes themselves; the name and the declared type are ignored."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    try:
        return _IMAGE_MIME[photos.sniff(data)]
    except photos.PhotoUnsupportedFormat:
        pass
    if _BINARY.search(data) is None:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return TEXT
    raise AttachmentUnsupportedType()


def clean_filename(name, mime_type):
    """The last path segment, without control or formatting characters (bidi overrides
    that disguise an extension included), no leading dots, at most 200 characters, with
    an extension that matches the real type."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _RESERVED.sub("_", name)
    name = name.strip().lstrip(".").strip() or "attachment"
    allowed = EXTENSIONS[mime_type]
    if not name.lower().endswith(allowed):
        name += allowed[0]
    if len(name) > MAX_NAME:
        stem, dot, extension = name.rpartition(".")
        name = stem[: MAX_NAME - len(extension) - 1] + dot + extension
    return name


def check_upload(filename, data):
    if not data:
        raise AttachmentEmpty(errors={"attachments": ["An attachment is empty."]})
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise AttachmentTooLarge(
            errors={"size_bytes": len(data), "max_bytes": MAX_ATTACHMENT_BYTES}
        )
    mime_type = sniff(data)
    return Upload(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        mime_type=mime_type,
        filename=clean_filename(filename, mime_type),
    )


def answer(*, actor, case_id, kind, text, files=()):
    """`files`: (filename, bytes) pairs, as uploaded."""
    case = auth.get_visible(Case, case_id, actor)
    if case.cadre_id != actor.id:
        raise Forbidden(
            "not_your_case",
            "Only the cadre the case is about may answer it.",
            "只有案件当事干部本人可以答复。",
        )
    if len(files) > MAX_ATTACHMENTS:
        raise Invalid(errors={"attachments": [f"At most {MAX_ATTACHMENTS} files."]})
    uploads = [check_upload(name, data) for name, data in files]  # before anything is written
    # An answer and a decision at once: one waits for the other.
    db.session.refresh(case, with_for_update=True)
    ensure_undecided(case)
    row = CaseAnswer(
        case=case,
        kind=kind,
        text=text,
        submitted_by_id=actor.id,
        submitted_at=utcnow(),
        late=local_today() > case.answer_deadline,
    )
    for upload in uploads:
        row.attachments.append(
            CaseAttachment(
                sha256=upload.sha256,
                filename=upload.filename,
                mime_type=upload.mime_type,
                size_bytes=len(upload.data),
            )
        )
        storage.stage(db.session, upload.data, upload.sha256)
    db.session.add(row)
    case.status = "answered"
    db.session.flush()
    audit.record(
        "case.answer",
        row,
        actor=actor,
        summary={
            "case_id": case.id,
            "kind": kind,
            "text": text,
            "late": row.late,
            "attachments": [
                {"sha256": a.sha256, "filename": a.filename, "mime_type": a.mime_type}
                for a in row.attachments
            ],
        },
    )
    db.session.commit()
    return row


def ensure_undecided(case):
    decided = db.session.execute(
        select(func.count(CaseDecision.id)).where(CaseDecision.case_id == case.id)
    ).scalar_one()
    if decided:
        raise Conflict(
            "case_decided",
            "This case has been decided; it takes no more answers.",
            "该案件已作出决定，不再接受答复。",
        )


@dataclass
class AttachmentView:
    data: bytes
    mime_type: str
    filename: str

    def headers(self):
        """A download, never shown inline: the bytes are the cadre's, not ours to render."""
        fallback = re.sub(r"[^A-Za-z0-9._-]", "_", self.filename)
        return {
            "Content-Disposition": (
                f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(self.filename)}"
            ),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "no-store",  # every look comes here, to be recorded
        }


def attachment_bytes(*, actor, case_id, attachment_id):
    auth.get_visible(Case, case_id, actor)
    attachment = db.session.execute(
        select(CaseAttachment)
        .join(CaseAnswer, CaseAnswer.id == CaseAttachment.answer_id)
        .where(CaseAttachment.id == attachment_id, CaseAnswer.case_id == case_id)
    ).scalar_one_or_none()
    if attachment is None:
        raise NotFound("case_attachment_not_found", "No such case attachment.", "未找到该对象。")
    if not storage.exists(attachment.sha256):
        raise NotFound(
            "evidence_file_missing",
            "The attachment's file is missing from the evidence store.",
            "附件文件缺失。",
        )
    data = storage.read(attachment.sha256)
    audit.record(
        "case_attachment.view",
        attachment,
        actor=actor,
        summary={"case_id": case_id, "sha256": attachment.sha256},
    )
    db.session.commit()
    return AttachmentView(data, attachment.mime_type, attachment.filename)
