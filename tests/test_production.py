"""The production run: gunicorn with the production configuration, as README says.

These start real gunicorn processes (two workers) against a database of their own."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from config import BASE_DIR

BIN = Path(sys.executable).parent


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def production_env(tmp_path, database_url, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "APP_CONFIG")}
    return (
        env
        | {
            "APP_CONFIG": "production",
            "DATABASE_URL": database_url,
            "SECRET_KEY": "a-long-random-secret-for-this-test-only-0123456789",
            "UPLOAD_DIR": str(tmp_path / "uploads"),
            "WEB_CONCURRENCY": "2",
        }
        | extra
    )


def get(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, json.loads(response.read())


def wait_until_serving(url, process, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited: {process.communicate()}")
        try:
            return get(url)
        except OSError:
            time.sleep(0.2)
    raise AssertionError("gunicorn did not answer in time")


def test_gunicorn_serves_the_app_after_the_migrations(own_database, tmp_path):
    port = free_port()
    url = own_database.config["SQLALCHEMY_DATABASE_URI"]
    env = production_env(tmp_path, url, BIND=f"127.0.0.1:{port}")
    env.pop("REDIS_URL", None)
    upgrade = subprocess.run(
        [BIN / "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    server = subprocess.Popen(
        [BIN / "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        status, body = wait_until_serving(f"http://127.0.0.1:{port}/readyz", server)
        assert status == 200 and body["status"] == "ready"
        for _ in range(4):  # spread over both workers
            assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            # Production is served over HTTPS (behind the load balancer): HSTS pins it.
            assert answer.headers["Strict-Transport-Security"] == (
                "max-age=31536000; includeSubDomains"
            )
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        server.terminate()
        out, err = server.communicate(timeout=60)
    assert server.returncode == 0, err
    assert "Booting worker" in err and err.count("Booting worker") == 2
    # The photo index is loaded once, in the master, before the workers start.
    assert err.index("photo index loaded: 0 hashes") < err.index("Booting worker")
    # Two workers without Redis would each count rate limits alone: said at start.
    assert "rate limits are counted by each of the 2 workers alone: set REDIS_URL" in err
    # Structured logs on stdout: one JSON object a line, each request with its id.
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    requests = [line for line in lines if line.get("path") in ("/readyz", "/healthz")]
    assert len(requests) >= 5 and all(line.get("request_id") for line in requests)


def test_production_refuses_to_start_with_the_default_secret(tmp_path):
    env = production_env(tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    del env["SECRET_KEY"]
    started = subprocess.run(
        [BIN / "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"],
        cwd=BASE_DIR,
        env=env | {"BIND": f"127.0.0.1:{free_port()}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode != 0
    assert "Refusing to start: set SECRET_KEY" in started.stderr


def test_production_refuses_to_start_without_a_database_url(tmp_path):
    env = production_env(tmp_path, "")
    del env["DATABASE_URL"]
    started = subprocess.run(
        [BIN / "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode != 0
    assert "Refusing to start: set DATABASE_URL" in started.stderr
