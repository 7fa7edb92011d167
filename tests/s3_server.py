"""A real S3-speaking server for the tests of the S3 evidence store: moto's server in a
process of its own on a free loopback port, started the first time a test asks for it
(once per run, or per xdist worker), with one bucket for the run and a key prefix per
test. Nothing in the test process is patched: the app's boto3 client talks HTTP to it
as it would to any S3."""

import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass

import pytest

REGION = "us-east-1"
START_SECONDS = 30


@dataclass
class S3Server:
    endpoint_url: str
    bucket: str


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("s3") / "moto.log"
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        _wait_until_up(endpoint, process, log)
        with pytest.MonkeyPatch.context() as env:
            # The standard AWS variables, as production sets them; moto takes any.
            env.setenv("AWS_ACCESS_KEY_ID", "test-only")
            env.setenv("AWS_SECRET_ACCESS_KEY", "test-only")
            env.delenv("AWS_SESSION_TOKEN", raising=False)
            env.delenv("AWS_PROFILE", raising=False)
            from server.storage.s3 import client

            bucket = f"evidence-{uuid.uuid4().hex[:12]}"
            client(endpoint, REGION).create_bucket(Bucket=bucket)
            yield S3Server(endpoint, bucket)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def s3_app(app, s3_server, monkeypatch):
    """The session's app, configured for the S3 store under a prefix of this test's own
    (so that `storage check` sees only this test's objects)."""
    settings = {
        "STORAGE_BACKEND": "s3",
        "S3_BUCKET": s3_server.bucket,
        "S3_ENDPOINT_URL": s3_server.endpoint_url,
        "S3_REGION": REGION,
        "S3_PREFIX": f"run-{uuid.uuid4().hex[:12]}/",
    }
    for key, value in settings.items():
        monkeypatch.setitem(app.config, key, value)
    return app


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(endpoint, process, log) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"moto server exited ({process.returncode}): {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"moto server did not answer within {START_SECONDS} s: {log.read_text()}")
