"""The evidence store: original photos and attachments kept byte for byte under their
SHA-256, and the derived images made from them.

Two backends with the same names and the same guarantees, chosen by STORAGE_BACKEND:
`local` (a folder, UPLOAD_DIR; the default, local.py) and `s3` (an S3-compatible
bucket, s3.py). No half-written evidence: `stage` stores a copy under tmp/ and hooks the
SQLAlchemy session, so the copy is installed under its final name only after the
transaction that records it commits, and discarded if it rolls back (transactions.py).
A crash between the commit and the install leaves a row without its original and the
staged copy beside it; `check(repair=True)` finishes the install (base.py).
`remove` deletes the bytes of rows that retention purged, never those a live row names.
"""

from flask import current_app

from server.storage.base import STALE_MINUTES, CheckReport, EvidenceStore
from server.storage.local import LocalStore

__all__ = [
    "STALE_MINUTES",
    "CheckReport",
    "EvidenceStore",
    "LocalStore",
    "check",
    "derived",
    "exists",
    "get_store",
    "read",
    "remove",
    "stage",
]


def get_store() -> EvidenceStore:
    """The store configured for the current app."""
    config = current_app.config
    backend = config.get("STORAGE_BACKEND") or "local"
    if backend == "local":
        return LocalStore(config["UPLOAD_DIR"])
    if backend == "s3":
        if not config.get("S3_BUCKET"):
            raise RuntimeError("STORAGE_BACKEND=s3 needs S3_BUCKET.")
        from server.storage.s3 import S3Store  # boto3 is imported only where it is used

        return S3Store(
            config["S3_BUCKET"],
            prefix=config.get("S3_PREFIX") or "",
            endpoint_url=config.get("S3_ENDPOINT_URL") or None,
            region=config.get("S3_REGION") or None,
        )
    raise RuntimeError(f"STORAGE_BACKEND must be local or s3, not {backend!r}.")


# The app's store, for services: storage.stage(db.session, data, sha) and so on.
def stage(session, data: bytes, sha: str):
    return get_store().stage(session, data, sha)


def read(sha: str) -> bytes:
    return get_store().read(sha)


def exists(sha: str) -> bool:
    return get_store().exists(sha)


def derived(sha: str, variant: str) -> bytes:
    return get_store().derived(sha, variant)


def check(session, **options) -> CheckReport:
    return get_store().check(session, **options)


def remove(sha: str, *, needed) -> bool:
    return get_store().remove(sha, needed=needed)
