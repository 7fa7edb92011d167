"""What every evidence store shares: the layout of names, staging bound to the database
transaction, derived images made on first request, and the check against the rows.

A backend provides a handful of primitives (put a staged copy, install or discard it,
get and put by name, list originals and staged copies); the rules live here once, so
the local folder and object storage cannot drift apart."""

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import inspect, or_, select

from server.errors import NotFound
from server.storage import transactions

_SHA = re.compile(r"[0-9a-f]{64}")
STALE_MINUTES = 60


def original_name(sha: str) -> str:
    _require_sha(sha)
    return f"originals/{sha[:2]}/{sha[2:4]}/{sha}"


def derived_name(sha: str, variant: str) -> str:
    _require_sha(sha)
    return f"derived/{variant}/{sha[:2]}/{sha}.jpg"


@dataclass
class CheckReport:
    orphans: list[str] = field(default_factory=list)  # files no row names
    missing: list[str] = field(default_factory=list)  # rows (photo, attachment) with no file
    tampered: list[str] = field(default_factory=list)  # names whose content != name
    stale_temps: list[str] = field(default_factory=list)  # staged copies older than the limit
    repaired: list[str] = field(default_factory=list)  # shas installed from a staged copy
    removed_temps: list[str] = field(default_factory=list)
    # Files only purged rows name: a purge that stopped between its commit and the
    # deletion (services/retention.py). Repair finishes the deletion.
    purged: list[str] = field(default_factory=list)
    removed_purged: list[str] = field(default_factory=list)
    # Display images and thumbnails of bytes no row keeps: a purge (or a removal) that
    # stopped after setting the original aside, before it deleted them. They show the
    # picture retention removed. Repair deletes them (they are made again on demand).
    stray_derived: list[str] = field(default_factory=list)
    removed_derived: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.orphans
            or self.missing
            or self.tampered
            or self.stale_temps
            or self.purged
            or self.stray_derived
        )


@dataclass
class Stored:
    """An object under originals/: its name relative to the store, and what it is."""

    name: str
    handle: object  # what the backend reads it by (a path, a key)
    sha: str | None  # the sha it is filed under, None when it is not where a sha goes


@dataclass
class Temp:
    """A staged copy: what the report calls it, the sha it claims, when it was written."""

    name: str
    handle: object
    sha: str
    modified: float  # seconds since the epoch


class EvidenceStore:
    # What install() may raise after a commit: logged there, never raised to the caller.
    errors: tuple[type[BaseException], ...] = (OSError,)

    # -- the primitives a backend provides ------------------------------------------
    def exists(self, sha: str) -> bool:
        raise NotImplementedError

    def install(self, handle, sha: str) -> None:
        """Put a staged copy under its final name, unless the original is already there
        (same name, same verified bytes: the original stays untouched)."""
        raise NotImplementedError

    def discard(self, handle) -> None:
        raise NotImplementedError

    def _put_temp(self, data: bytes, sha: str):
        raise NotImplementedError

    def _get(self, name: str) -> bytes | None:
        raise NotImplementedError

    def _put_derived(self, name: str, data: bytes) -> None:
        raise NotImplementedError

    def _originals(self) -> Iterable[Stored]:
        raise NotImplementedError

    def _derived(self) -> Iterable[tuple[str, str | None]]:
        """(name, sha it is of) of every file under derived/."""
        raise NotImplementedError

    def _temps(self) -> Iterable[Temp]:
        raise NotImplementedError

    def _digest(self, handle) -> str:
        raise NotImplementedError

    def _set_aside(self, sha: str):
        """Move an original away from its name to a staged copy (which install() can
        put back); None if there is no such original."""
        raise NotImplementedError

    def _delete(self, name: str) -> None:
        """Delete by name; nothing happens if it is not there."""
        raise NotImplementedError

    # -- shared behaviour --------------------------------------------------------------
    def read(self, sha: str) -> bytes:
        data = self._get(original_name(sha)) if _is_sha(sha) else None
        if data is None:
            raise NotFound(error="evidence_not_found")
        return data

    def derived(self, sha: str, variant: str) -> bytes:
        """A derived image, rendered and cached on first request."""
        from server.services import photos

        if variant not in photos.VARIANTS:
            raise ValueError(f"unknown variant {variant!r}")
        if not _is_sha(sha):
            raise NotFound(error="evidence_not_found")
        name = derived_name(sha, variant)
        data = self._get(name)
        if data is None:
            data = photos.render(self.read(sha), variant)
            self._put_derived(name, data)
        return data

    def stage(self, session, data: bytes, sha: str):
        """Store `data` as a staged copy now; install it when `session` commits, discard
        it if the transaction rolls back.

        `sha` must be the SHA-256 the caller computed from these very bytes (as
        photos.inspect does): hashing 2 MB again here would cost a millisecond a photo
        for nothing. `check()` re-reads every original and reports any mismatch."""
        _require_sha(sha)
        transaction = transactions.begin(session)
        handle = self._put_temp(data, sha)
        transactions.pending(session, self, handle, sha, transaction)
        return handle

    def remove(self, sha: str, *, needed) -> bool:
        """Delete an original and its derived images unless `needed()` says a row still
        wants the bytes; True if they are gone.

        The original is set aside before `needed()` is asked: an upload of the same bytes
        that commits meanwhile either finds the name free and installs its own copy, or
        is seen by `needed()` and gets the set-aside copy back. So a live row never loses
        its file to a purge, without any lock shared with the upload path."""
        from server.services.photos import VARIANTS

        _require_sha(sha)
        handle = self._set_aside(sha)
        if needed():
            if handle is not None:
                self.install(handle, sha)
            return False
        for variant in VARIANTS:
            self._delete(derived_name(sha, variant))
        if handle is not None:
            self.discard(handle)
        return True

    def check(self, session, *, stale_minutes=STALE_MINUTES, repair=False) -> CheckReport:
        """Compare the store with the rows that name files (photos, and the attachments
        of cadres' answers to cases); see CheckReport for what is listed.

        Reads every original (to find tampering), so it is an operator's command, not a
        request handler. A photo committed a moment ago may show as missing until its
        transaction's after-commit install has run.
        """
        from server.models.cases import CaseAttachment

        report = CheckReport()
        known, purged = _photo_shas(session)
        known |= set(session.scalars(select(CaseAttachment.sha256).distinct()))
        purged -= known
        present = set()
        for stored in self._originals():
            if stored.sha:
                present.add(stored.sha)  # present; whether intact is reported separately
            if not stored.sha or self._digest(stored.handle) != stored.sha:
                report.tampered.append(stored.name)
        report.tampered.sort()
        report.orphans = sorted(present - known - purged)
        report.missing = sorted(known - present)
        report.purged = sorted(present & purged)
        self._check_temps(report, known, stale_minutes, repair)
        if repair:
            for sha in list(report.purged):
                if self.remove(sha, needed=lambda sha=sha: in_use(session, sha)):
                    report.purged.remove(sha)
                    report.removed_purged.append(sha)
        self._check_derived(session, report, known, repair)
        return report

    def _check_derived(self, session, report, known, repair) -> None:
        for name, sha in sorted(self._derived()):
            if sha in known:
                continue
            if sha is not None and in_use(session, sha):
                continue  # a photo committed (and viewed) since `known` was read
            if repair:
                self._delete(name)
                report.removed_derived.append(name)
            else:
                report.stray_derived.append(name)

    def _check_temps(self, report, known, stale_minutes, repair) -> None:
        limit = time.time() - stale_minutes * 60
        for temp in sorted(self._temps(), key=lambda t: t.name):
            if repair and temp.sha in report.missing and self._digest(temp.handle) == temp.sha:
                self.install(temp.handle, temp.sha)
                report.missing.remove(temp.sha)
                report.repaired.append(temp.sha)
            elif temp.modified < limit:
                report.stale_temps.append(temp.name)
                # A stale copy nobody needs (no row, or already in place) can go.
                if repair and (temp.sha not in known or self.exists(temp.sha)):
                    self.discard(temp.handle)
                    report.removed_temps.append(temp.name)


def _photo_shas(session) -> tuple[set, set]:
    """(shas of photos that keep their files, shas of photos purged by retention). A
    database just restored from a backup older than retention (revision 0009, until
    `db upgrade`) has no purged_at column, and nothing purged."""
    from server.models.checkins import Photo

    columns = {c["name"] for c in inspect(session.connection()).get_columns("photo")}
    if "purged_at" not in columns:
        return set(session.scalars(select(Photo.sha256).distinct())), set()
    shas = session.execute(select(Photo.sha256, Photo.purged_at.is_(None)).distinct()).all()
    return {sha for sha, kept in shas if kept}, {sha for sha, kept in shas if not kept}


def in_use(session, sha: str) -> bool:
    """Whether a row that keeps its file (a photo not purged, a case attachment) names
    these bytes."""
    from server.models.cases import CaseAttachment
    from server.models.checkins import Photo

    photo = select(Photo.id).where(Photo.sha256 == sha, Photo.purged_at.is_(None))
    attachment = select(CaseAttachment.id).where(CaseAttachment.sha256 == sha)
    return bool(session.scalar(select(or_(photo.exists(), attachment.exists()))))


def _derived_sha(filename: str) -> str | None:
    """The sha a derived file (<sha>.jpg, derived_name) is of; None for anything else."""
    sha = filename.removesuffix(".jpg")
    return sha if filename.endswith(".jpg") and _is_sha(sha) else None


def _is_sha(value) -> bool:
    return isinstance(value, str) and _SHA.fullmatch(value) is not None


def _require_sha(sha) -> None:
    # Shas arrive from URLs too: this is also what keeps names inside the store.
    if not _is_sha(sha):
        raise ValueError("not a lowercase hex SHA-256")
