"""Helpers for the evidence store's tests: small photos, and reading what a store holds
around its API (as an operator with a shell or the bucket's console would)."""

import io
import os

import pytest
from PIL import Image

from server import storage
from server.extensions import db
from server.models.checkins import Photo
from server.services import photos
from server.storage.s3 import S3Store

LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_pixels": 50_000_000}


@pytest.fixture(params=["local", "s3"])
def any_store(request, app, tmp_path, monkeypatch):
    """The evidence store, once on a local folder of this test's own, once on S3 (moto)."""
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    if request.param == "s3":
        request.getfixturevalue("s3_app")
    else:
        monkeypatch.setitem(app.config, "STORAGE_BACKEND", "local")
    return storage.get_store()


def jpeg(seed: int) -> bytes:
    image = Image.linear_gradient("L").rotate(seed * 7).resize((64, 48)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", comment=f"seed {seed}".encode())
    return buffer.getvalue()


def add_photo(store, checkin, data, position=0) -> Photo:
    facts = photos.inspect(data, **LIMITS)
    store.stage(db.session, data, facts.sha256)
    photo = Photo(checkin=checkin, position=position, **facts.columns())
    db.session.add(photo)
    return photo


# -- what is in the store, read around its API ------------------------------------------
def names(store, area) -> list[str]:
    """Every object under `area` (originals, derived, tmp), relative to the store."""
    if isinstance(store, S3Store):
        pages = store.client.get_paginator("list_objects_v2")
        keys = pages.paginate(Bucket=store.bucket, Prefix=store.key(f"{area}/"))
        return sorted(i["Key"][len(store.prefix) :] for p in keys for i in p.get("Contents", []))
    root = store.root
    return sorted(p.relative_to(root).as_posix() for p in (root / area).rglob("*") if p.is_file())


def files(store, area) -> list[str]:
    return sorted(name.rsplit("/", 1)[-1] for name in names(store, area))


def get(store, name) -> bytes:
    if isinstance(store, S3Store):
        return store.client.get_object(Bucket=store.bucket, Key=store.key(name))["Body"].read()
    return (store.root / name).read_bytes()


def put(store, name, data) -> None:
    """Write behind the store's back, as a tamperer or a crashed process would."""
    if isinstance(store, S3Store):
        store.client.put_object(Bucket=store.bucket, Key=store.key(name), Body=data)
        return
    path = store.root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        os.chmod(path, 0o600)
    path.write_bytes(data)


def original(sha) -> str:
    return f"originals/{sha[:2]}/{sha[2:4]}/{sha}"
