"""The evidence store in a local folder (the default; app.config["UPLOAD_DIR"]).

    originals/ab/cd/<sha>            write-once, read-only; same bytes, same path
    derived/<variant>/ab/<sha>.jpg   made on first request, replaceable at any time
    tmp/<sha>.<random>.part          staged copies waiting for their transaction

A staged file is fsynced before the row that names it commits, and installed by a
rename, so a reader sees no original or the whole one."""

import hashlib
import os
import secrets
import tempfile
from pathlib import Path

from server.storage.base import (
    EvidenceStore,
    Stored,
    Temp,
    _derived_sha,
    _is_sha,
    derived_name,
    original_name,
)


class LocalStore(EvidenceStore):
    def __init__(self, root):
        self.root = Path(root)

    def original_path(self, sha: str) -> Path:
        return self.root / original_name(sha)

    def derived_path(self, sha: str, variant: str) -> Path:
        return self.root / derived_name(sha, variant)

    def exists(self, sha: str) -> bool:
        return _is_sha(sha) and self.original_path(sha).is_file()

    def install(self, handle: Path, sha: str) -> None:
        final = self.original_path(sha)
        if final.exists():
            handle.unlink(missing_ok=True)
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(handle, 0o400)  # evidence is never edited in place
        os.replace(handle, final)
        _fsync_dir(final.parent)

    def discard(self, handle: Path) -> None:
        handle.unlink(missing_ok=True)

    def _put_temp(self, data: bytes, sha: str) -> Path:
        return _write_temp(self.root / "tmp", sha, data, keep_cached=False)

    def _get(self, name: str) -> bytes | None:
        try:
            return (self.root / name).read_bytes()
        except FileNotFoundError:
            return None

    def _put_derived(self, name: str, data: bytes) -> None:
        # Readers see the old file or the whole new one, never a partial JPEG.
        final = self.root / name
        staged = _write_temp(self.root / "tmp", f"derived-{final.stem}", data)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)

    def _originals(self):
        for path in sorted((self.root / "originals").glob("*/*/*")):
            name = path.name
            in_place = _is_sha(name) and path == self.original_path(name)
            yield Stored(str(path.relative_to(self.root)), path, name if in_place else None)

    def _derived(self):
        for path in (self.root / "derived").glob("*/*/*"):
            name = str(path.relative_to(self.root))
            yield name, _derived_sha(path.name)

    def _temps(self):
        for path in (self.root / "tmp").glob("*"):
            yield Temp(path.name, path, path.name.split(".")[0], path.stat().st_mtime)

    def _digest(self, handle: Path) -> str:
        with open(handle, "rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()

    def _set_aside(self, sha: str) -> Path | None:
        # Named like a staged copy (<sha>.<random>.part), so `check` knows what it is.
        handle = self.root / "tmp" / f"{sha}.purge-{secrets.token_hex(8)}.part"
        handle.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(self.original_path(sha), handle)
        except FileNotFoundError:
            return None
        return handle

    def _delete(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)


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


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
