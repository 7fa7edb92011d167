"""The files of a backup directory: the manifest, hashing, copying evidence in and out,
and the PostgreSQL client tools. `server/services/backups.py` is the use case."""

import hashlib
import json
import os
import re
import shutil
import subprocess
from itertools import islice
from pathlib import Path

from server.errors import Conflict, Invalid
from server.storage.base import original_name

MANIFEST = "manifest.json"
_MANIFEST_FIELDS = {
    "created_at": str,
    "app_revision": str,
    "database": dict,
    "audit_head": dict,
    "row_counts": dict,
    "files": list,
}
_ORIGINAL = re.compile(r"originals/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})")


def require_empty_dir(target: Path) -> bool:
    """Make sure `target` is a new or empty folder; True if this call made it."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise Conflict(
            error="backup_dir_not_empty",
            message=f"{target} is not an empty folder: a backup never writes over anything.",
            message_zh="备份目录必须是新的或空的文件夹，备份不会覆盖任何文件。",
        )
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    return created


def clear(target: Path, *, remove: bool) -> None:
    """Undo an unfinished backup in a folder that was empty before it."""
    for child in target.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    if remove:
        target.rmdir()


def digest(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def describe(root: Path, path: Path) -> dict:
    return {
        "path": path.relative_to(root).as_posix(),
        "size": path.stat().st_size,
        "sha256": digest(path),
    }


def write_original(target: Path, sha: str, data: bytes) -> dict:
    path = target / original_name(sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_synced(path, data)
    return {"path": original_name(sha), "size": len(data), "sha256": sha}


def write_manifest(target: Path, manifest: dict) -> str:
    """Write the manifest last, atomically; return its SHA-256 (for the operator's notes)."""
    data = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False).encode() + b"\n"
    staged = target / f"{MANIFEST}.part"
    _write_synced(staged, data)
    os.replace(staged, target / MANIFEST)
    _fsync_dir(target)
    return hashlib.sha256(data).hexdigest()


def read_manifest(source: Path, format_name: str, version: int) -> tuple[dict, str]:
    try:
        data = (source / MANIFEST).read_bytes()
        manifest = json.loads(data)
        if manifest.get("format") != format_name or manifest.get("format_version") != version:
            raise ValueError(f"not a {format_name} manifest of version {version}")
        for key, kind in _MANIFEST_FIELDS.items():
            if not isinstance(manifest.get(key), kind):
                raise ValueError(f"{key} is missing or not a {kind.__name__}")
        if not all(
            isinstance(e, dict) and {"path", "size", "sha256"} <= set(e) for e in manifest["files"]
        ):
            raise ValueError("every file needs path, size and sha256")
    except (OSError, ValueError, AttributeError) as exc:
        raise Invalid(
            error="backup_manifest_invalid",
            message=f"{source / MANIFEST} is missing or unreadable ({exc!r}): not a "
            "backup, or an unfinished one.",
            message_zh="备份清单缺失或无法读取：不是备份，或备份未完成。",
        ) from None
    return manifest, hashlib.sha256(data).hexdigest()


def verify(source: Path, manifest: dict, database_file: str) -> Path:
    """Check every file against the manifest, and that nothing else is there; return the
    database file. Raises naming every difference."""
    problems, listed = {}, set()
    for entry in manifest["files"]:
        path = entry["path"]
        if not _expected_path(path, entry["sha256"], database_file):
            problems[str(path)] = ["not a file a backup holds"]
            continue
        listed.add(path)
        full = source / path
        if not full.is_file():
            problems[path] = ["missing"]
        elif full.stat().st_size != entry["size"]:
            problems[path] = [f"size {full.stat().st_size}, the manifest says {entry['size']}"]
        elif digest(full) != entry["sha256"]:
            problems[path] = ["content does not match its SHA-256 in the manifest"]
    if database_file not in listed:
        problems[database_file] = ["the manifest does not list the database"]
    for path in stored_files(source):
        if path not in listed and path != MANIFEST:
            problems[path] = ["not in the manifest"]
    if problems:
        raise Conflict(
            error="backup_tampered",
            message="The backup does not match its manifest; nothing was restored: "
            + "; ".join(f"{path}: {reasons[0]}" for path, reasons in sorted(problems.items())),
            message_zh="备份文件与清单不符，未恢复任何内容。",
            errors=problems,
        )
    return source / database_file


def _expected_path(path, sha, database_file) -> bool:
    if path == database_file:
        return True
    match = _ORIGINAL.fullmatch(path) if isinstance(path, str) else None
    return bool(match) and match[3] == sha and match[1] == sha[:2] and match[2] == sha[2:4]


def stage_originals(store, source: Path, entries: list) -> list[tuple]:
    """Stage a copy of every original in the store (installed later, or discarded),
    checking the bytes read against their hash. On any failure none stays staged.

    Uses the store's own primitives (`_put_temp`, `install`, `discard`: base.py), so a
    restore fills the local folder and object storage alike."""
    staged = []
    try:
        for entry in entries:
            path, sha = source / entry["path"], entry["sha256"]
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != sha:
                raise Conflict(
                    error="backup_tampered",
                    message=f"{path} changed after it was verified; nothing was restored.",
                    message_zh="备份文件在校验后被改动，未恢复任何内容。",
                    errors={entry["path"]: ["content does not match its SHA-256"]},
                )
            staged.append((store._put_temp(data, sha), sha))
    except BaseException:
        discard(store, staged)
        raise
    return staged


def install(store, staged: list[tuple]) -> None:
    for handle, sha in staged:
        store.install(handle, sha)


def discard(store, staged: list[tuple]) -> None:
    for handle, _ in staged:
        store.discard(handle)


def store_contents(store, limit=5) -> list[str]:
    """Up to `limit` originals and staged copies in the store ([] when it has none)."""
    names = [stored.name for stored in islice(store._originals(), limit)]
    return names + [f"tmp/{temp.name}" for temp in islice(store._temps(), limit)]


def stored_files(root: Path) -> list[str]:
    """Every file under `root`, as sorted relative paths ([] if there is no root)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir())


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise Invalid(
            error="backup_tool_missing",
            message=f"{name} is not on the PATH: install the PostgreSQL client tools "
            "(the server's major version or newer), e.g. apt-get install postgresql-client.",
            message_zh=f"找不到 {name}：请安装 PostgreSQL 客户端工具（版本不低于服务器）。",
        )
    return path


def run(command: list[str], env: dict) -> str:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        name = Path(command[0]).name
        raise Conflict(
            error="backup_tool_failed",
            message=f"{name} failed (exit {result.returncode}): {result.stderr.strip()}",
            message_zh=f"{name} 执行失败。",
        )
    return result.stdout


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
