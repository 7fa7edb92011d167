"""The evidence store: original photos kept byte for byte under their SHA-256, and the
derived images made from them.

Layout under the root (app.config["UPLOAD_DIR"]):
    originals/ab/cd/<sha>            write-once; same bytes, same path
    derived/<variant>/ab/<sha>.jpg   made on first request, replaceable at any time
    tmp/<sha>.<random>.part          staged uploads waiting for their transaction

No half-written evidence: `stage` writes the bytes to tmp/ and hooks the SQLAlchemy
session, so the file is moved into place only after the transaction that records it
commits, and deleted if it rolls back. A crash between the commit and the move leaves a
row without its file and the staged copy in tmp/; `check(repair=True)` finishes the move.

An object-store backend would implement the same methods (stage, read, exists, derived,
check) with the same session hooks.
"""

import hashlib
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session, scoped_session

from server.errors import NotFound

log = logging.getLogger(__name__)

_SHA = re.compile(r"[0-9a-f]{64}")
_PENDING = "evidence_store.pending"  # session.info key: files staged in this session
_HOOKED = "evidence_store.hooked"
STALE_MINUTES = 60


def get_store() -> "LocalStore":
    """The store configured for the current app (UPLOAD_DIR)."""
    return LocalStore(current_app.config["UPLOAD_DIR"])


# The app's store, for services: storage.stage(db.session, data, sha) and so on.
def stage(session, data: bytes, sha: str) -> Path:
    return get_store().stage(session, data, sha)


def read(sha: str) -> bytes:
    return get_store().read(sha)


def exists(sha: str) -> bool:
    return get_store().exists(sha)


def derived(sha: str, variant: str) -> bytes:
    return get_store().derived(sha, variant)


def check(session, **options) -> "CheckReport":
    return get_store().check(session, **options)


@dataclass
class CheckReport:
    orphans: list[str] = field(default_factory=list)  # files no row names
    missing: list[str] = field(default_factory=list)  # rows (photo, attachment) with no file
    tampered: list[str] = field(default_factory=list)  # paths whose content != name
    stale_temps: list[str] = field(default_factory=list)  # tmp/ names older than the limit
    repaired: list[str] = field(default_factory=list)  # shas moved into place from tmp/
    removed_temps: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.orphans or self.missing or self.tampered or self.stale_temps)


@dataclass
class _Staged:
    store: "LocalStore"
    path: Path
    sha: str
    transaction: object  # the SessionTransaction it was staged in (None: not begun yet)


class LocalStore:
    def __init__(self, root):
        self.root = Path(root)

    def original_path(self, sha: str) -> Path:
        _require_sha(sha)
        return self.root / "originals" / sha[:2] / sha[2:4] / sha

    def derived_path(self, sha: str, variant: str) -> Path:
        _require_sha(sha)
        return self.root / "derived" / variant / sha[:2] / f"{sha}.jpg"

    def exists(self, sha: str) -> bool:
        return _is_sha(sha) and self.original_path(sha).is_file()

    def read(self, sha: str) -> bytes:
        if not _is_sha(sha):
            raise NotFound(error="evidence_not_found")
        try:
            return self.original_path(sha).read_bytes()
        except FileNotFoundError:
            raise NotFound(error="evidence_not_found") from None

    def derived(self, sha: str, variant: str) -> bytes:
        """A derived image, rendered and cached on first request."""
        from server.services import photos

        if variant not in photos.VARIANTS:
            raise ValueError(f"unknown variant {variant!r}")
        if not _is_sha(sha):
            raise NotFound(error="evidence_not_found")
        path = self.derived_path(sha, variant)
        if path.is_file():
            return path.read_bytes()
        data = photos.render(self.read(sha), variant)
        _write_atomic(self.root / "tmp", path, data)
        return data

    def stage(self, session, data: bytes, sha: str) -> Path:
        """Write `data` to tmp/ now; move it into place when `session` commits.

        `sha` must be the SHA-256 the caller computed from these very bytes (as
        photos.inspect does): hashing 2 MB again here would cost a millisecond a photo
        for nothing. `check()` re-reads every original and reports any mismatch."""
        _require_sha(sha)
        session = _hook(session)
        # Begin now if autobegin has not happened yet, so that a rollback before any
        # query still discards the file instead of leaving it for the next commit.
        transaction = (
            session.get_nested_transaction() or session.get_transaction() or session.begin()
        )
        path = _write_temp(self.root / "tmp", sha, data, keep_cached=False)
        session.info.setdefault(_PENDING, []).append(_Staged(self, path, sha, transaction))
        return path

    def install(self, staged_path: Path, sha: str) -> None:
        """Move a staged file to its final path, unless the original is already there
        (same name, same verified bytes: the original stays untouched)."""
        final = self.original_path(sha)
        if final.exists():
            staged_path.unlink(missing_ok=True)
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(staged_path, 0o400)  # evidence is never edited in place
        os.replace(staged_path, final)
        _fsync_dir(final.parent)

    def check(self, session, *, stale_minutes=STALE_MINUTES, repair=False) -> CheckReport:
        """Compare the store with the rows that name files (photos, and the attachments
        of cadres' answers to cases); see CheckReport for what is listed.

        Reads every original (to find tampering), so it is an operator's command, not a
        request handler. A photo committed a moment ago may show as missing until its
        transaction's after-commit move has run.
        """
        from server.models.cases import CaseAttachment
        from server.models.checkins import Photo

        report = CheckReport()
        known = set(session.scalars(select(Photo.sha256).distinct()))
        known |= set(session.scalars(select(CaseAttachment.sha256).distinct()))
        on_disk = self._scan_originals(report)
        report.orphans = sorted(on_disk - known)
        report.missing = sorted(known - on_disk)
        self._check_temps(report, known, stale_minutes, repair)
        return report

    def _scan_originals(self, report: CheckReport) -> set[str]:
        on_disk = set()
        for path in sorted((self.root / "originals").glob("*/*/*")):
            name = path.name
            in_place = _is_sha(name) and path == self.original_path(name)
            if in_place:
                on_disk.add(name)  # present; whether intact is reported separately
            if not in_place or _digest(path) != name:
                report.tampered.append(str(path.relative_to(self.root)))
        return on_disk

    def _check_temps(self, report, known, stale_minutes, repair) -> None:
        limit = time.time() - stale_minutes * 60
        for path in sorted((self.root / "tmp").glob("*")):
            sha = path.name.split(".")[0]
            if repair and sha in report.missing and _digest(path) == sha:
                self.install(path, sha)
                report.missing.remove(sha)
                report.repaired.append(sha)
            elif path.stat().st_mtime < limit:
                report.stale_temps.append(path.name)
                # A stale copy nobody needs (no row, or already in place) can go.
                if repair and (sha not in known or self.exists(sha)):
                    path.unlink(missing_ok=True)
                    report.removed_temps.append(path.name)


def _hook(session) -> Session:
    """Attach the transaction listeners to this Session object, once."""
    if isinstance(session, scoped_session):
        session = session()
    if not session.info.get(_HOOKED):
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_soft_rollback", _after_soft_rollback)
        event.listen(session, "after_transaction_end", _after_transaction_end)
        session.info[_HOOKED] = True
    return session


def _after_commit(session) -> None:
    # Releasing a SAVEPOINT fires after_commit too; only the outermost commit counts.
    if session.in_nested_transaction():
        return
    for staged in session.info.pop(_PENDING, []):
        try:
            staged.store.install(staged.path, staged.sha)
        except OSError:
            # The rows are committed; raising here would tell the caller otherwise.
            # The staged copy stays in tmp/ for check(repair=True).
            log.exception("evidence %s committed but not moved into place", staged.sha)


def _after_transaction_end(session, transaction) -> None:
    # The outermost transaction ended without after_commit taking the files: it was
    # rolled back, or the session was closed with it still open. Either way: discard.
    if transaction.parent is None:
        for staged in session.info.pop(_PENDING, []):
            staged.path.unlink(missing_ok=True)


def _after_soft_rollback(session, previous_transaction) -> None:
    # A SAVEPOINT rolled back: only what was staged inside it goes.
    if not previous_transaction.nested:
        return
    keep = []
    for staged in session.info.get(_PENDING, []):
        if _within(staged.transaction, previous_transaction):
            staged.path.unlink(missing_ok=True)
        else:
            keep.append(staged)
    session.info[_PENDING] = keep


def _within(transaction, savepoint) -> bool:
    while transaction is not None:
        if transaction is savepoint:
            return True
        transaction = transaction.parent
    return False


def _write_temp(directory: Path, prefix: str, data: bytes, keep_cached=True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix=f"{prefix}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())  # on disk before the row that points at it commits
            if not keep_cached and hasattr(os, "posix_fadvise"):
                # An original is written once and rarely read again. Handing its clean
                # pages back right away lets the next upload reuse them instead of
                # claiming fresh memory: 4 ms less CPU per 2 MB photo (BENCHMARKS.md).
                os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _write_atomic(tmp_dir: Path, final: Path, data: bytes) -> None:
    # Readers see the old file or the whole new one, never a partial JPEG.
    staged = _write_temp(tmp_dir, f"derived-{final.stem}", data)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, final)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _digest(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _is_sha(value) -> bool:
    return isinstance(value, str) and _SHA.fullmatch(value) is not None


def _require_sha(sha) -> None:
    # Shas arrive from URLs too: this is also what keeps paths inside the root.
    if not _is_sha(sha):
        raise ValueError("not a lowercase hex SHA-256")
