"""gunicorn in production configuration (gunicorn.conf.py, wsgi.py) on a free loopback
port, with a temporary evidence store, started and stopped by the load test."""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from config import BASE_DIR

BIN = Path(sys.executable).parent
# Every simulated phone logs in from 127.0.0.1, where a real province's phones come from
# thousands of addresses: the per-address log-in limit is raised (not switched off);
# every other limit keeps its production value.
LIMITS = {"RATE_LIMIT_LOGIN_PER_ADDRESS": "100000 per minute"}


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Gunicorn:
    def __init__(self, database_url, workdir, *, workers=None, token_minutes=15):
        self.workdir = Path(workdir)
        self.port = free_port()
        self.uploads = self.workdir / "uploads"
        env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "WEB_CONCURRENCY")}
        env |= LIMITS | {
            "APP_CONFIG": "production",
            "DATABASE_URL": database_url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "UPLOAD_DIR": str(self.uploads),
            "BIND": f"127.0.0.1:{self.port}",
            # A phone keeps its tokens through the run (the default is 15 minutes).
            "ACCESS_TOKEN_MINUTES": str(token_minutes),
        }
        if workers:
            env["WEB_CONCURRENCY"] = str(workers)
        self.env, self.process = env, None
        self.stdout, self.stderr = self.workdir / "requests.jsonl", self.workdir / "gunicorn.log"

    def start(self, seconds=120):
        """Migrate to head (as `make serve` does), start, and wait until /readyz answers."""
        upgrade = subprocess.run(
            [BIN / "flask", "--app", "wsgi", "db", "upgrade"],
            cwd=BASE_DIR, env=self.env, capture_output=True, text=True,
        )  # fmt: skip
        if upgrade.returncode != 0:
            raise RuntimeError(f"flask db upgrade failed:\n{upgrade.stderr}")
        with open(self.stdout, "wb") as out, open(self.stderr, "wb") as err:
            self.process = subprocess.Popen(
                [BIN / "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"],
                cwd=BASE_DIR, env=self.env, stdout=out, stderr=err,
            )  # fmt: skip
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.stderr.read_text()[-3000:]}")
            try:
                url = f"http://127.0.0.1:{self.port}/readyz"
                with urllib.request.urlopen(url, timeout=2) as response:
                    if json.loads(response.read()).get("status") == "ready":
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not become ready")

    @property
    def pid(self):
        return self.process.pid

    def boots(self):
        """How many workers gunicorn has started so far (recycled ones included)."""
        return self.stderr.read_text(errors="replace").count("Booting worker")

    def durations(self):
        """{request id: milliseconds inside the app} from the request log (one JSON object
        a line on stdout): the answer's latency less the wait for a free worker."""
        found = {}
        for line in self.stdout.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("duration_ms") is not None:
                found[entry["request_id"]] = entry.get("duration_ms")
        return found

    def problems(self, limit=10):
        """gunicorn's own error lines (worker timeouts, crashes), the last `limit`."""
        lines = self.stderr.read_text(errors="replace").splitlines()
        return [line for line in lines if "[ERROR]" in line or "[CRITICAL]" in line][-limit:]

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # graceful: workers finish their request
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
