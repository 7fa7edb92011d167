"""A case's evidence bundle: one ZIP with every record and original photo behind the
case, the cadre's attachments, the audit events about them with the chain's head, and a
manifest of SHA-256 hashes (docs/evidence-bundle.md; server/tools/verify_bundle.py
checks one offline).

A bundle cannot prove that it was not rebuilt wholesale by someone with database
access, so the manifest's own hash goes into the audit log (`case.bundle`) before the
bundle leaves the server: that record is what a bundle is compared with.
"""

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import and_, or_, select

from server import auth, storage
from server.errors import Conflict
from server.extensions import db
from server.models import AuditEvent, Case, MonthClosure, ReplacementObligation
from server.models.types import utcnow
from server.services import audit
from server.services.bundle_records import Collector, photo_path, row

FORMAT = "evidence-bundle-v1"
# Built in memory: refused above this (app.config["MAX_BUNDLE_BYTES"] overrides it).
MAX_BYTES = 256 * 1024 * 1024
_CONTENT = ("photos/", "attachments/")


@dataclass
class Bundle:
    data: bytes
    filename: str
    manifest_sha256: str


def evidence_zip(*, actor, case_id):
    """The bundle of a case the actor may see (its reviewers, admins, and the cadre it
    concerns); the build is audited with the manifest's SHA-256."""
    case = auth.get_visible(Case, case_id, actor)
    collector = Collector(case, actor)
    documents = _documents(case, collector)
    purged = {p for p in collector.photos.values() if p.purged_at is not None}
    blobs = {photo_path(p): p.size_bytes for p in collector.photos.values() if p not in purged}
    blobs.update({f"attachments/{sha}": a.size_bytes for sha, a in collector.attachments.items()})
    missing = _missing(blobs)
    # Retention deleted these bytes on purpose: declared as such, not as a loss.
    missing.update(
        {photo_path(p): {"sha256": p.sha256, "kind": "photo", "reason": "purged"} for p in purged}
    )
    _mark_missing(documents, {entry["sha256"] for entry in missing.values()})
    files = {path: _json_bytes(doc) for path, doc in documents.items()}
    files.update({path: text.encode() for path, text in collector.snapshots.items()})
    for path in missing:
        blobs.pop(path, None)
    _check_size(files, blobs)

    created = utcnow()
    manifest = {
        "format": FORMAT,
        "case_id": case.id,
        "created_at": created.isoformat(),
        "requested_by": {"id": actor.id, "name": actor.name, "roles": actor.roles},
        "missing_files": sorted(missing.values(), key=lambda m: m["sha256"]),
        "unresolved": collector.unresolved,
    }
    data, digest = _zip(files, blobs, manifest, created)
    audit.record(
        "case.bundle",
        case,
        actor=actor,
        summary={
            "manifest_sha256": digest,
            "files": len(files) + len(blobs) + 1,
            "bytes": len(data),
            "photos": sorted(int(i) for i in collector.objects.get("photo", ())),
            "attachments": sorted(a.id for a in collector.attachments.values()),
        },
    )
    db.session.commit()
    return Bundle(data, f"case-{case.id}-evidence.zip", digest)


def _documents(case, collector):
    """path -> JSON document: the case, its recommendation, the records they cite, and
    the audit events about all of them."""
    documents = {"case.json": _case_document(case, collector)}
    recommendation = case.recommendation
    if recommendation is not None:
        documents["recommendation.json"] = {"recommendation": row(recommendation)}
        collector.note("recommendation", recommendation.id)
    collector.add(case.evidence)
    if recommendation is not None:
        collector.add(recommendation.evidence)
    documents.update(collector.records)
    documents["audit.json"] = _audit_document(collector.objects, collector.actor)
    return documents


def _zip(files, blobs, manifest, created):
    """(ZIP bytes, manifest SHA-256). Originals are read from the store one at a time,
    byte for byte, and hashed as written; the manifest goes last."""
    buffer = io.BytesIO()
    listed = []
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(files.keys() | blobs.keys()):
            data = files[path] if path in files else storage.read(_sha_of(path))
            _write(archive, path, data, created)
            listed.append({"path": path, "size": len(data), "sha256": _sha256(data)})
        encoded = _json_bytes({**manifest, "files": listed})
        _write(archive, "manifest.json", encoded, created)
    return buffer.getvalue(), _sha256(encoded)


def _case_document(case, collector):
    collector.note("case_file", case.id)
    collector.note("case", case.id)  # whichever name the cases service logs it under
    answers = []
    for answer in case.answers:
        attachments = []
        for attachment in answer.attachments:
            collector.attachments.setdefault(attachment.sha256, attachment)
            attachments.append({**row(attachment), "file": f"attachments/{attachment.sha256}"})
        answers.append({**row(answer), "attachments": attachments})
        collector.note("case_answer", answer.id)
        collector.note("case_attachment", *(a.id for a in answer.attachments))
    corrected_by = {d.corrects_id: d.id for d in case.decisions if d.corrects_id is not None}
    decisions = [{**row(d), "corrected_by_id": corrected_by.get(d.id)} for d in case.decisions]
    collector.note("case_decision", *(d.id for d in case.decisions))
    obligation = db.session.execute(
        select(ReplacementObligation).where(
            ReplacementObligation.decision_id.in_([d.id for d in case.decisions])
        )
    ).scalar_one_or_none()
    if obligation is not None:
        collector.note("replacement_obligation", obligation.id)
    posting = case.posting
    return {
        "case": row(case),
        "posting": {
            **row(posting),
            "cadre_name": posting.cadre.name,
            "village_code": posting.village.code,
            "village_name": posting.village.name,
            "unit_name": posting.unit.name,
        },
        "answers": answers,
        "decisions": decisions,
        "replacement_obligation": row(obligation) if obligation is not None else None,
    }


def audit_entry(event):
    """An audit event with every field its hash covers, `at` exactly as hashed."""
    return {**audit.hashed_fields(event), "hash": event.hash}


def _audit_document(objects, actor):
    head_seq, head_hash = audit.head()
    clauses = [
        and_(AuditEvent.object_type == kind, AuditEvent.object_id.in_(sorted(ids)))
        for kind, ids in sorted(objects.items())
        if ids
    ]
    events = db.session.scalars(
        select(AuditEvent).where(or_(*clauses), AuditEvent.seq <= head_seq).order_by(AuditEvent.seq)
    ).all()
    events = [e for e in events if _shown_event(e, actor)]
    return {"head": {"seq": head_seq, "hash": head_hash}, "events": list(map(audit_entry, events))}


def _shown_event(event, actor):
    """A closure's `recommendation.create` lists every posting's recommendation of the
    month: only for those who may see the closure (the chain check skips the gap)."""
    if event.action != "recommendation.create" or event.object_type != "month_closure":
        return True
    closure = db.session.get(MonthClosure, int(event.object_id))
    return closure is not None and auth.can_see(actor, closure)


def _missing(blobs):
    """Cited files the evidence store does not have: listed, never silently dropped."""
    missing = {}
    for path in blobs:
        sha = _sha_of(path)
        if not storage.exists(sha):
            missing[path] = {"sha256": sha, "kind": path.split("/")[0].rstrip("s")}
    return missing


def _mark_missing(value, shas):
    if isinstance(value, dict):
        if value.get("sha256") in shas and "file" in value:
            value["file"] = None
        for item in value.values():
            _mark_missing(item, shas)
    elif isinstance(value, list):
        for item in value:
            _mark_missing(item, shas)


def _check_size(files, blobs):
    limit = current_app.config.get("MAX_BUNDLE_BYTES", MAX_BYTES)
    total = sum(map(len, files.values())) + sum(blobs.values())
    if total > limit:
        raise Conflict(
            "bundle_too_large",
            f"The bundle would hold {total} bytes, more than the {limit} built on request.",
            f"证据包约 {total} 字节，超过在线生成上限 {limit} 字节。",
            errors={"bytes": total, "limit": limit},
        )


def _sha_of(path):
    return path.split("/")[1].split(".")[0]


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _json_bytes(document):
    return (json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def _write(archive, path, data, created):
    info = zipfile.ZipInfo(path, date_time=created.timetuple()[:6])
    # Photos and attachments are compressed already; JSON shrinks well.
    info.compress_type = zipfile.ZIP_STORED if path.startswith(_CONTENT) else zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)
