"""The evidence store in an S3-compatible bucket (STORAGE_BACKEND=s3).

Same names as the local folder, under S3_PREFIX:
    originals/ab/cd/<sha>            write-once; never overwritten
    derived/<variant>/ab/<sha>.jpg   made on first request, replaceable at any time
    tmp/<uuid>-<sha>                 staged copies waiting for their transaction

A PUT is atomic (an object is there whole or not at all), so staging is not about torn
writes here but about the transaction: the object is uploaded under tmp/ before the
commit and copied to its final name after it. Every upload carries its SHA-256
(x-amz-checksum-sha256), which the server checks against the bytes it received, and
the copy asks the server for the SHA-256 of what it now holds, so a mismatch is logged
at once, not only at the next `storage check`. Credentials come from the standard AWS
chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, an instance role)."""

import base64
import functools
import hashlib
import logging
import uuid
from contextlib import closing

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from server.storage.base import EvidenceStore, Stored, Temp, _derived_sha, _is_sha, original_name

log = logging.getLogger("server.storage")

_MISSING = {"404", "NoSuchKey", "NotFound"}
_CHUNK = 1 << 20


@functools.cache
def client(endpoint_url: str | None, region: str | None):
    """One client per endpoint and process: clients are thread-safe, and making one
    takes a few hundred milliseconds (it loads the service's whole API model)."""
    config = Config(
        # We send the SHA-256 ourselves; without this botocore would hash every body
        # once more (CRC32) on the way out.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"mode": "standard"},
    )
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


class S3Store(EvidenceStore):
    errors = (OSError, BotoCoreError, ClientError)

    def __init__(self, bucket: str, *, prefix: str = "", endpoint_url=None, region=None):
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else f"{prefix}/"
        self.client = client(endpoint_url, region)

    def key(self, name: str) -> str:
        return self.prefix + name

    def exists(self, sha: str) -> bool:
        return _is_sha(sha) and self._head(self.key(original_name(sha)))

    def install(self, handle: str, sha: str) -> None:
        final = self.key(original_name(sha))
        # Content addressing makes a second copy of the same name harmless, but not every
        # S3-speaking server honours If-None-Match on a copy: look first, so that the
        # original already there is never replaced.
        if not self._head(final):
            try:
                result = self._copy(handle, final)
            except ClientError as exc:
                if _code(exc) not in ("PreconditionFailed", "412"):
                    raise  # 412: another upload of the same bytes got there first
            else:
                held = result.get("CopyObjectResult", {}).get("ChecksumSHA256")
                if held and held != _checksum(sha):
                    log.error("evidence %s: the stored bytes do not match the name", sha)
        self.discard(handle)

    def _copy(self, source: str, target: str) -> dict:
        return self.client.copy_object(
            Bucket=self.bucket,
            Key=target,
            CopySource={"Bucket": self.bucket, "Key": source},
            IfNoneMatch="*",
            ChecksumAlgorithm="SHA256",  # the server hashes what it holds
        )

    def discard(self, handle: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=handle)

    def _put_temp(self, data: bytes, sha: str) -> str:
        handle = self.key(f"tmp/{uuid.uuid4().hex}-{sha}")
        self.client.put_object(
            Bucket=self.bucket,
            Key=handle,
            Body=data,
            ChecksumSHA256=_checksum(sha),
            IfNoneMatch="*",
        )
        return handle

    def _get(self, name: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key(name))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        with closing(response["Body"]) as body:
            return body.read()

    def _put_derived(self, name: str, data: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self.key(name), Body=data, ContentType="image/jpeg"
        )

    def _originals(self):
        for item in self._list("originals/"):
            name = item["Key"][len(self.prefix) :]
            sha = name.rsplit("/", 1)[-1]
            in_place = _is_sha(sha) and name == original_name(sha)
            yield Stored(name, item["Key"], sha if in_place else None)

    def _derived(self):
        for item in self._list("derived/"):
            name = item["Key"][len(self.prefix) :]
            yield name, _derived_sha(name.rsplit("/", 1)[-1])

    def _temps(self):
        for item in self._list("tmp/"):
            name = item["Key"][len(self.key("tmp/")) :]
            sha = name.rsplit("-", 1)[-1]
            yield Temp(name, item["Key"], sha, item["LastModified"].timestamp())

    def _digest(self, handle: str) -> str:
        digest = hashlib.sha256()
        response = self.client.get_object(Bucket=self.bucket, Key=handle)
        with closing(response["Body"]) as body:
            for chunk in body.iter_chunks(_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def _set_aside(self, sha: str) -> str | None:
        handle = self.key(f"tmp/{uuid.uuid4().hex}-{sha}")
        final = self.key(original_name(sha))
        try:
            self._copy(final, handle)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        self.client.delete_object(Bucket=self.bucket, Key=final)
        return handle

    def _delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(name))

    def _list(self, area: str):
        pages = self.client.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket, Prefix=self.key(area)):
            yield from page.get("Contents", [])

    def _head(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise
        return True


def _checksum(sha: str) -> str:
    return base64.b64encode(bytes.fromhex(sha)).decode()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
