"""The checks of an evidence bundle, for verify_bundle.py: standard library only.

Each check appends one line per difference to `out`, naming the file (or audit event)
that is wrong; `notes` are facts worth saying that are not failures. The format is
specified in docs/evidence-bundle.md.
"""

import hashlib
import json
import re
import zipfile
import zlib
from collections import Counter
from pathlib import PurePosixPath

FORMAT = "evidence-bundle-v1"
GENESIS_HASH = "0" * 64
MANIFEST = "manifest.json"
_SHA = re.compile(r"[0-9a-f]{64}")
_CONTENT_DIRS = ("photos", "attachments")  # file names are their contents' SHA-256
_CHUNK = 1 << 20
# The columns of a check-in its audited submission sealed (server/services/seals.py).
CHECKIN_SEALED = (
    "client_id",
    "content_hash",
    "cadre_id",
    "posting_id",
    "village_id",
    "household_id",
    "kind",
    "captured_at",
    "captured_offset_min",
    "local_date",
    "local_time",
    "received_at",
    "device_id",
    "mock_location",
    "note",
)
CHECKIN_POSITION = ("latitude", "longitude", "accuracy_m", "altitude_m")
_SEALS = {"columns": CHECKIN_SEALED, "position": CHECKIN_POSITION}
# What reading a damaged member raises (a wrong CRC, a broken deflate stream).
DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError)


class BundleError(ValueError):
    """Not a bundle: the file cannot be checked at all."""


def canonical_json(value):
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def event_hash(event):
    """An audit event's hash, exactly as server/services/audit.py computes it (`at` is
    the UTC ISO 8601 string with microseconds that the server hashed)."""
    content = {
        key: event.get(key)
        for key in (
            "seq",
            "at",
            "actor_id",
            "action",
            "object_type",
            "object_id",
            "summary",
            "request_id",
            "prev_hash",
        )
    }
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def checkin_seal(record):
    """A check-in record's seal, as server/services/seals.py computes it: the record
    holds each column as the server's JSON (instants in UTC ISO 8601)."""
    return {key: _hash(record, keys) for key, keys in _SEALS.items()}


def _hash(record, keys):
    values = {key: record.get(key) for key in keys}
    return hashlib.sha256(canonical_json(values).encode()).hexdigest()


def _reject_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _no_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def parse_json(data):
    return json.loads(
        data.decode("utf-8"), object_pairs_hook=_reject_duplicates, parse_constant=_no_constant
    )


def _digest(archive, name):
    """(size, SHA-256) of a member, read in chunks: photos can be large."""
    sha, size = hashlib.sha256(), 0
    with archive.open(name) as member:
        while chunk := member.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()


def load_manifest(archive):
    try:
        data = archive.read(MANIFEST)
    except KeyError:
        raise BundleError(f"no {MANIFEST}") from None
    try:
        manifest = parse_json(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise BundleError(f"{MANIFEST} is not valid JSON: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{MANIFEST} does not say format {FORMAT!r}")
    entries = manifest.get("files")
    if not isinstance(entries, list) or not all(
        isinstance(e, dict)
        and isinstance(e.get("path"), str)
        and isinstance(e.get("size"), int)
        and isinstance(e.get("sha256"), str)
        for e in entries
    ):
        raise BundleError(f"{MANIFEST}: files must be a list of {{path, size, sha256}}")
    return manifest, hashlib.sha256(data).hexdigest()


class Check:
    """One verification run: what was read, and what differs."""

    def __init__(self, archive, manifest):
        self.archive, self.manifest = archive, manifest
        self.out, self.notes = [], []
        self.digests = {}  # path -> SHA-256 of the content, for files present
        self.unreadable = set()
        self.documents = {}  # path -> parsed JSON

    def stages(self):
        return [
            self.files,
            self.parse_documents,
            self.content_names,
            self.citations,
            self.audit,
            self.cross_checks,
        ]

    def files(self):
        names = [info.filename for info in self.archive.infolist()]
        for name, count in sorted(Counter(names).items()):
            if count > 1:
                self.out.append(f"{name}: appears more than once in the ZIP")
        listed = {}
        for entry in self.manifest["files"]:
            path = entry["path"]
            if path == MANIFEST:
                self.out.append(f"{MANIFEST}: lists itself")
                continue
            if path in listed:
                self.out.append(f"{path}: listed more than once in the manifest")
            listed[path] = entry
        present = set(names)
        for path, entry in sorted(listed.items()):
            if path not in present:
                self.out.append(f"{path}: missing from the bundle (the manifest lists it)")
                continue
            try:
                size, sha = _digest(self.archive, path)
            except DAMAGED as error:
                self.out.append(f"{path}: cannot be read from the ZIP ({error})")
                self.unreadable.add(path)
                continue
            self.digests[path] = sha
            if sha != entry["sha256"] or size != entry["size"]:
                self.out.append(
                    f"{path}: content differs from the manifest "
                    f"(manifest sha256 {entry['sha256']}, file has {sha})"
                )
        for path in sorted(present - set(listed) - {MANIFEST}):
            self.out.append(f"{path}: not listed in the manifest (a file was added)")

    def parse_documents(self):
        for path in sorted(self.digests):
            if not path.endswith(".json"):
                continue
            try:
                self.documents[path] = parse_json(self.archive.read(path))
            except (UnicodeDecodeError, ValueError, RecursionError) as error:
                self.out.append(f"{path}: not valid JSON ({error})")
        case = self.documents.get("case.json")
        if "case.json" in self.digests and case is not None:
            stated = (case.get("case") or {}).get("id") if isinstance(case, dict) else None
            if stated != self.manifest.get("case_id"):
                self.out.append(
                    f"case.json: case id {stated!r} differs from the manifest's "
                    f"{self.manifest.get('case_id')!r}"
                )

    def content_names(self):
        """photos/ and attachments/ are named by their SHA-256: check each name."""
        for path, sha in sorted(self.digests.items()):
            folder, _, name = path.partition("/")
            if folder not in _CONTENT_DIRS:
                continue
            stem = name.split(".")[0]
            if not _SHA.fullmatch(stem):
                self.out.append(f"{path}: not named by a SHA-256")
            elif stem != sha:
                self.out.append(f"{path}: content does not match its name (sha256 is {sha})")

    def citations(self):
        """Every {"sha256", "file"} a record cites names a file of the bundle with that
        content; every content file is cited by some record."""
        listed = self.manifest.get("missing_files") or []
        missing = {m.get("sha256"): m.get("reason") for m in listed}
        cited = set()
        for path, document in sorted(self.documents.items()):
            if path == "audit.json":
                continue  # events name hashes in their summaries; they cite no file
            for item in _cited_files(document):
                sha, file = item.get("sha256"), item.get("file")
                if file is None:
                    if missing.get(sha) == "purged":
                        self.notes.append(f"{path}: file {sha} was deleted (retention period)")
                    elif sha in missing:
                        self.notes.append(f"{path}: file {sha} was missing from the store")
                    else:
                        self.out.append(f"{path}: cites {sha} without a file")
                    continue
                cited.add(file)
                folder = PurePosixPath(str(file)).parts[0]
                if folder not in _CONTENT_DIRS or str(file).split("/")[-1].split(".")[0] != sha:
                    self.out.append(f"{path}: cites {file} for sha256 {sha}")
                elif file in self.unreadable:
                    self.out.append(f"{path}: cites {file}, which cannot be read")
                elif file not in self.digests:
                    self.out.append(f"{path}: cites {file}, which is not in the bundle")
                elif self.digests[file] != sha:
                    self.out.append(f"{path}: cites {file}, whose content is not {sha}")
        for path in sorted(self.digests):
            if path.split("/")[0] in _CONTENT_DIRS and path not in cited:
                self.out.append(f"{path}: not cited by any record")

    def audit(self):
        document = self.documents.get("audit.json")
        if not isinstance(document, dict):
            if document is not None:
                self.out.append("audit.json: must be an object {head, events}")
            return  # a missing or unparsable audit.json is named already
        events, head = document.get("events"), document.get("head")
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            self.out.append("audit.json: events must be a list of objects")
            return
        previous = None
        for event in events:
            seq, name = event.get("seq"), f"audit event {event.get('seq')}"
            name += f" ({event.get('action')})"
            if event_hash(event) != event.get("hash"):
                self.out.append(f"{name}: hash does not match its content")
            if not isinstance(seq, int) or (previous is not None and seq <= previous["seq"]):
                self.out.append(f"{name}: out of order (events are listed by seq)")
                previous = None
                continue
            if seq == 1 and event.get("prev_hash") != GENESIS_HASH:
                self.out.append(f"{name}: the first event must follow the genesis hash")
            if previous is not None and previous["seq"] + 1 == seq:
                if event.get("prev_hash") != previous.get("hash"):
                    self.out.append(
                        f"{name}: prev_hash does not match the hash of event {previous['seq']}"
                    )
            previous = event
        self._head(events, head)

    def _head(self, events, head):
        if not isinstance(head, dict) or not isinstance(head.get("seq"), int):
            self.out.append("audit.json: head must be {seq, hash}")
            return
        for event in events:
            if isinstance(event.get("seq"), int) and event["seq"] > head["seq"]:
                self.out.append(f"audit event {event['seq']}: later than the stated head")
            if event.get("seq") == head["seq"] and event.get("hash") != head.get("hash"):
                self.out.append(f"audit.json: head hash differs from event {head['seq']}")

    def cross_checks(self):
        audit = self.documents.get("audit.json")
        events = audit.get("events") if isinstance(audit, dict) else None
        events = events if isinstance(events, list) else []
        by_object = {}
        for event in events:
            if isinstance(event, dict):
                key = (event.get("object_type"), event.get("object_id"))
                by_object.setdefault(key, []).append(event)
        for path, document in sorted(self.documents.items()):
            if not isinstance(document, dict):
                continue
            if document.get("type") == "checkin":
                self._checkin_photos(path, document, by_object)
                self._checkin_seal(path, document, by_object)
            elif document.get("type") == "ledger_month":
                self._ledger_month(path, document, by_object)

    def _checkin_photos(self, path, document, by_object):
        """The photos a check-in record lists are the ones its audited submission
        (and resends) named: the bytes are tied to the hash chain."""
        checkin_id = str((document.get("checkin") or {}).get("id"))
        logged, seen = set(), False
        for event in by_object.get(("checkin", checkin_id), []):
            summary = event.get("summary") or {}
            if event.get("action") == "checkin.submit":
                seen = True
                logged.update(summary.get("photos") or [])
            elif event.get("action") == "checkin.resend":
                logged.update(summary.get("photos_added") or [])
        if not seen:
            return
        listed = {p.get("sha256") for p in document.get("photos") or [] if isinstance(p, dict)}
        for sha in sorted(listed - logged):
            self.out.append(f"{path}: photo {sha} is not in the audited submission")
        for sha in sorted(logged - listed):
            self.out.append(f"{path}: photo {sha} of the audited submission is not listed")

    def _checkin_seal(self, path, document, by_object):
        """The check-in's position, times, device and note are those its audited
        submission sealed (a purged one shows no position at all)."""
        record = document.get("checkin") or {}
        for event in by_object.get(("checkin", str(record.get("id"))), []):
            seal = (event.get("summary") or {}).get("seal")
            if event.get("action") != "checkin.submit" or not isinstance(seal, dict):
                continue  # submitted before seals were recorded: nothing to compare
            now, seq = checkin_seal(record), event.get("seq")
            if now["columns"] != seal.get("columns"):
                self.out.append(
                    f"{path}: sealed columns (times, device, note, ids, kind) differ from"
                    f" those sealed in audit event {seq}"
                )
            if record.get("purged_at") is None:
                if now["position"] != seal.get("position"):
                    self.out.append(
                        f"{path}: position differs from the one sealed in audit event {seq}"
                    )
            elif any(record.get(key) is not None for key in CHECKIN_POSITION):
                self.out.append(f"{path}: shows purged_at, yet shows a position")
            else:
                # purged_at is not sealed (retention sets it later): a position removed
                # by hand with purged_at set looks the same. Say what was not checked.
                self.notes.append(f"{path}: shows purged_at; its position is not checked")

    def _ledger_month(self, path, document, by_object):
        closure = document.get("closure")
        if not isinstance(closure, dict):
            self.notes.append(f"{path}: the month was not closed: no frozen row to check")
            return
        for event in by_object.get(("month_closure", str(closure.get("id"))), []):
            stated = (event.get("summary") or {}).get("snapshot_hash")
            if event.get("action") == "month.close" and stated != closure.get("snapshot_hash"):
                self.out.append(
                    f"{path}: snapshot_hash differs from audit event {event.get('seq')}"
                )
        snapshot = document.get("snapshot_file")
        if snapshot is None:
            self.notes.append(f"{path}: row not checked against its snapshot (not included)")
            return
        if snapshot not in self.digests:
            self.out.append(f"{path}: cites {snapshot}, which is not in the bundle")
            return
        if self.digests[snapshot] != closure.get("snapshot_hash"):
            self.out.append(f"{snapshot}: content does not match the closure's snapshot_hash")
        rows = (self.documents.get(snapshot) or {}).get("rows") or []
        frozen = [r for r in rows if r.get("posting_id") == document.get("posting_id")]
        if (frozen[0] if frozen else None) != document.get("row"):
            self.out.append(f"{path}: row differs from the frozen snapshot {snapshot}")


def _cited_files(value):
    if isinstance(value, dict):
        if "sha256" in value and "file" in value:
            yield value
        for item in value.values():
            yield from _cited_files(item)
    elif isinstance(value, list):
        for item in value:
            yield from _cited_files(item)
