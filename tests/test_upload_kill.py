"""A gunicorn worker killed (SIGKILL) in the middle of a photo check-in leaves no
half-written evidence, and the phone's retry succeeds.

Real gunicorn in production configuration (two workers) on a database of its own, as in
tests/test_production.py. The moment of the kill is made certain, not hoped for: the
kill comes once /proc shows that the worker holding the connection has read every byte
sent so far (half the body), or, on PostgreSQL, once the photo has been staged and the
worker waits for a table lock this test holds, so it cannot have committed."""

import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from bench.load.client import multipart
from bench.load.photos import load as load_photos
from bench.load.usage import children
from config import BASE_DIR
from server import storage
from server.extensions import db
from server.models import Checkin
from server.storage.base import original_name
from tests.api.checkin_kit import device_time, fields
from tests.factories import PASSWORD, Factory
from tests.photos import PHOTOS_DIR
from tests.test_production import BIN, free_port, production_env, wait_until_serving

PHOTO = "mei_oppo_r7plus.jpg"  # a 1.9 MB, 13 MP phone JPEG
# SQLite cannot be held between staging and commit: a request there takes the database's
# one write lock at its first statement (BEGIN IMMEDIATE), before anything is staged.
POSTGRESQL_ONLY = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="no lock can hold a SQLite request between staging and commit",
)


class Served:
    """gunicorn, the cadre's check-in as raw HTTP bytes, and the places to look."""

    def __init__(self, app, tmp_path, phone):
        self.app, self.tmp, self.phone = app, tmp_path, phone
        self.port = free_port()
        self.uploads, self.spool = tmp_path / "uploads", tmp_path / "spool"
        self.spool.mkdir()
        self.log = tmp_path / "gunicorn.log"

    def start(self):
        url = self.app.config["SQLALCHEMY_DATABASE_URI"]
        env = production_env(self.tmp, url, BIND=f"127.0.0.1:{self.port}", TMPDIR=str(self.spool))
        with open(self.tmp / "requests.jsonl", "wb") as out, open(self.log, "wb") as err:
            self.process = subprocess.Popen(
                [BIN / "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"],
                cwd=BASE_DIR, env=env, stdout=out, stderr=err,
            )  # fmt: skip
        wait_until_serving(f"http://127.0.0.1:{self.port}/readyz", self.process)
        wait_for(lambda: len(children(self.process.pid)) == 2, "two workers")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=60)

    def request(self, method, path, body=b"", headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body, headers or {})
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def checkin_bytes(self):
        """A presence check-in at village A1 with the real photo, captured now."""
        status, tokens = self.request(
            "POST",
            "/api/v1/auth/login",
            json.dumps({"phone": self.phone, "password": PASSWORD, "device_id": "phone-zhangwei"}),
            {"Content-Type": "application/json"},
        )
        assert status == 200, tokens
        at = device_time()  # +08:00, as a phone in China sends it
        form = fields(captured_at=at)
        self.client_id = form["client_id"]
        position = float(form["latitude"]), float(form["longitude"])
        self.photo = load_photos([PHOTO])[0].stamped(at, *position)  # taken here, now
        self.sha = hashlib.sha256(self.photo).hexdigest()
        pieces, content_type = multipart(form, [("photos", "IMG_0001.jpg", self.photo)])
        body = b"".join(pieces)
        self.headers = {
            "Authorization": f"Bearer {tokens['access_token']}",
            "Content-Type": content_type,
        }
        self.body = body
        head = ["POST /api/v1/checkins HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        head += [f"{k}: {v}" for k, v in self.headers.items()]
        head += [f"Content-Length: {len(body)}", "Connection: close"]
        return ("\r\n".join(head) + "\r\n\r\n").encode(), body

    def worker_holding(self, connection):
        """The worker that accepted `connection` (our socket), once one has."""
        inode = _server_side(self.port, connection.getsockname()[1])["inode"]
        if inode == "0":
            return None  # still in the listen queue
        for worker in children(self.process.pid):
            try:
                links = [
                    os.readlink(f"/proc/{worker}/fd/{fd}")
                    for fd in os.listdir(f"/proc/{worker}/fd")
                ]
            except FileNotFoundError:
                continue
            if f"socket:[{inode}]" in links:
                return worker
        return None

    def kill(self, worker):
        os.kill(worker, signal.SIGKILL)
        # gunicorn notices, and boots a replacement: two workers again, without the dead one.
        wait_for(
            lambda: worker not in (now := children(self.process.pid)) and len(now) == 2,
            "a replacement worker",
        )
        assert self.log.read_text().count("Booting worker") == 3

    def nothing_recorded(self):
        with self.app.app_context():
            rows = db.session.execute(db.select(Checkin).where(Checkin.client_id == self.client_id))
            assert rows.first() is None
            db.session.remove()
        assert not list((self.uploads / "originals").rglob("*"))
        assert not list(self.spool.iterdir())  # no upload spooled to a named temp file

    def check(self, **options):
        with self.app.app_context():
            report = storage.check(db.session, **options)
            db.session.remove()
        return report

    def retry_succeeds(self):
        status, first = self.request("POST", "/api/v1/checkins", self.body, self.headers)
        assert status == 201, first
        assert [p["sha256"] for p in first["photos"]] == [self.sha]
        status, again = self.request("POST", "/api/v1/checkins", self.body, self.headers)
        assert status == 200 and again["id"] == first["id"]
        assert (self.uploads / original_name(self.sha)).read_bytes() == self.photo


@pytest.fixture
def served(own_database, tmp_path):
    if not (PHOTOS_DIR / PHOTO).exists():
        pytest.skip(f"needs {PHOTO} from shared/testdata/photos")
    with own_database.app_context():
        world = Factory().world()
        db.session.commit()
        phone = world.cadre_a.phone
        db.session.remove()
    server = Served(own_database, tmp_path, phone)
    server.start()
    yield server
    server.stop()


def wait_for(condition, what, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _tcp_table():
    """Rows of /proc/net/tcp: local and remote ports, queues, inode."""
    rows = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        tx, rx = (int(q, 16) for q in cols[4].split(":"))
        local, remote = (int(c.split(":")[1], 16) for c in cols[1:3])
        rows.append({"local": local, "remote": remote, "tx": tx, "rx": rx, "inode": cols[9]})
    return rows


def _server_side(server_port, client_port):
    return next(r for r in _tcp_table() if r["local"] == server_port and r["remote"] == client_port)


def _all_read(server_port, client_port):
    """Every byte we sent has left our socket and been read by the worker."""
    table = _tcp_table()
    ours = next(r for r in table if r["local"] == client_port and r["remote"] == server_port)
    theirs = next(r for r in table if r["local"] == server_port and r["remote"] == client_port)
    return ours["tx"] == 0 and theirs["rx"] == 0


def test_a_worker_killed_halfway_through_an_upload_leaves_nothing_and_the_retry_succeeds(
    served,
):
    head, body = served.checkin_bytes()
    with socket.create_connection(("127.0.0.1", served.port)) as phone:
        phone.sendall(head + body[: len(body) // 2])
        client_port = phone.getsockname()[1]
        wait_for(lambda: served.worker_holding(phone), "a worker to accept the upload")
        worker = served.worker_holding(phone)
        # The worker has read the headers and half the body, and is waiting for the rest.
        wait_for(lambda: _all_read(served.port, client_port), "the worker to read half")
        served.kill(worker)
        phone.settimeout(10)
        try:
            answer = phone.recv(100)
        except ConnectionResetError:
            answer = b""
    assert answer == b""  # the phone got no answer: it will retry

    served.nothing_recorded()
    assert not list((served.uploads / "tmp").glob("*"))  # not even a staged copy
    report = served.check(stale_minutes=0)
    assert report.ok and not report.stale_temps

    served.retry_succeeds()
    assert served.check(stale_minutes=0).ok


@POSTGRESQL_ONLY
def test_a_worker_killed_between_staging_the_photo_and_the_commit_leaves_a_staged_copy_only(
    served,
):
    """The photo is on disk under tmp/; the transaction that would name it never commits."""
    head, body = served.checkin_bytes()
    with served.app.app_context():
        lock = db.engine.connect()
        lock.exec_driver_sql("LOCK TABLE checkin IN SHARE MODE")  # new check-ins wait
        with socket.create_connection(("127.0.0.1", served.port)) as phone:
            phone.sendall(head + body)
            wait_for(lambda: _staged(served), "the photo to be staged")
            wait_for(lambda: _waiting_for_lock(lock), "the insert to wait for the lock")
            served.kill(served.worker_holding(phone))
            lock.rollback()  # the dead worker's transaction can only end uncommitted now
            wait_for(lambda: not _open_transactions(lock), "the dead worker's transaction")
        lock.close()
        db.session.remove()

    served.nothing_recorded()
    (staged,) = _staged(served)
    assert staged.name.startswith(served.sha + ".") and staged.read_bytes() == served.photo
    report = served.check()  # a copy this fresh may belong to a transaction still running
    assert report.ok and not report.stale_temps
    report = served.check(stale_minutes=0)  # once old enough, the check names it
    assert report.stale_temps == [staged.name]
    assert not (report.orphans or report.missing or report.tampered)

    served.retry_succeeds()
    report = served.check(stale_minutes=0, repair=True)  # the leftover copy goes
    assert report.removed_temps == [staged.name] and not _staged(served)
    assert served.check(stale_minutes=0).ok


def _staged(served):
    """Staged copies of the photo, written in full (fsynced before the row commits)."""
    tmp = served.uploads / "tmp"
    copies = list(tmp.glob(f"{served.sha}.*.part")) if tmp.exists() else []
    return [c for c in copies if c.stat().st_size == len(served.photo)]


def _waiting_for_lock(connection):
    return connection.exec_driver_sql(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
        " WHERE c.relname = 'checkin' AND NOT l.granted"
    ).scalar()


def _open_transactions(connection):
    # pg_stat_activity is read once per transaction and kept: without clearing that
    # snapshot, every poll saw the dead worker's INSERT as it was at the first one.
    connection.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
    return connection.exec_driver_sql(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
        " AND backend_type = 'client backend'"
    ).scalar()
