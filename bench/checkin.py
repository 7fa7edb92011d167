"""Server CPU per photo check-in, end to end: HTTP parsing, photo ingest, verification
(including the near-duplicate lookup), the database write and the file move.

    .venv/bin/python -m bench.checkin [--n 40] [--database-url URL] [--parts] [--profile F]

Runs the app in-process with Flask's test client against a fresh database (a temporary
SQLite file, or an empty PostgreSQL database you name), posting the real 13-megapixel
Oppo R7 Plus photo; each request gets distinct bytes (a JPEG comment with a counter), so
every check-in stores a new original and finds the earlier ones as near-duplicates.
Prints figures; asserts nothing. With --parts it also prints the median CPU of the parts
named in PARTS (each wrapped with time.process_time(); the wrappers cost a little, and
nested parts are included in their callers' figures).
"""

import argparse
import cProfile
import functools
import importlib
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from config import BASE_DIR, TestingConfig

PHOTO = BASE_DIR.parent / "shared" / "testdata" / "photos" / "mei_oppo_r7plus.jpg"
# "module:attribute" of what --parts times, in the order a check-in reaches them.
PARTS = (
    "werkzeug.wrappers.request:Request._load_form_data",  # multipart parsing
    "server.auth:_authenticate",
    "server.services.checkins:_by_client_id",
    "server.services.checkins:_inspect",
    "server.services.photos:_load_reduced",  # the reduced-scale decode
    "server.services.checkins:_create",
    "server.services.checkins:_target",
    "server.services.checkins:checkin_policy",
    "server.services.evidence:attach_photos",
    "server.storage.local:_write_temp",
    "server.services.verification:assess",
    "server.services.leaves:close_on_return",
    "server.services.audit:record",
    "sqlalchemy.orm:Session.flush",
    "sqlalchemy.orm:Session.commit",
    "marshmallow:Schema.dump",
)


def distinct(jpeg, n):
    """The same picture with a COM segment after SOI: different bytes, same pixels."""
    comment = f"bench {n}".encode()
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    return jpeg[:2] + segment + jpeg[2:]


def multipart(form, photo):
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in form.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; filename="IMG.jpg"'
        f"\r\nContent-Type: image/jpeg\r\n\r\n".encode()
        + photo
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def time_parts(spent):
    """Wrap each part in PARTS so that its CPU time adds up in spent[name]."""
    for spec in PARTS:
        module, _, path = spec.partition(":")
        *owner_path, name = path.split(".")
        owner = importlib.import_module(module)
        for attribute in owner_path:
            owner = getattr(owner, attribute)
        original = getattr(owner, name)  # renamed since? then PARTS must follow

        @functools.wraps(original)
        def timed(*args, _original=original, _name=path, **kwargs):
            start = time.process_time()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_name] = spent.get(_name, 0) + time.process_time() - start

        setattr(owner, name, timed)


def build_world():
    from server import auth
    from server.extensions import db
    from server.models import Posting, Region, Unit, User

    regions = {}
    for code, parent in (
        ("340000000000", None),
        ("340400000000", "340000000000"),
        ("340421000000", "340400000000"),
        ("340421100000", "340421000000"),
        ("340421100201", "340421100000"),
    ):
        regions[code] = Region(code=code, name=code, level="x", parent=regions.get(parent))
    for region, level in zip(
        regions.values(), ("province", "city", "county", "township", "village"), strict=True
    ):
        region.level = level
    village = regions["340421100201"]
    village.latitude, village.longitude, village.geofence_radius_m = 32.7093, 116.7112, 1000
    unit = Unit(name="bench unit", level="county", region=regions["340421000000"])
    cadre = User(
        name="bench",
        phone="13900009999",
        roles=["cadre"],
        password_hash=auth.hash_password("Bench-2026"),
    )
    db.session.add_all([*regions.values(), unit, cadre])
    db.session.add(
        Posting(
            cadre=cadre,
            village=village,
            unit=unit,
            role="first_secretary",
            start_date=datetime(2026, 1, 1).date(),
        )
    )
    db.session.commit()
    return cadre.phone


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--database-url")
    parser.add_argument("--parts", action="store_true", help="also time the parts in PARTS")
    parser.add_argument("--profile", help="write cProfile stats of the timed check-ins here")
    args = parser.parse_args()

    from flask_migrate import upgrade

    from server import create_app

    tmp = Path(tempfile.mkdtemp(prefix="bench-checkin-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    app = create_app(
        TestingConfig, SQLALCHEMY_DATABASE_URI=url, UPLOAD_DIR=str(tmp / "up"), LOG_LEVEL="WARNING"
    )
    with app.app_context():
        upgrade()
        phone = build_world()
    client = app.test_client()
    token = client.post(
        "/api/v1/auth/login",
        json={"phone": phone, "password": "Bench-2026", "device_id": "bench-phone"},
    ).json
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    jpeg = PHOTO.read_bytes()
    beijing = timezone(timedelta(hours=8))
    cpu, wall, verdicts, spent, parts = [], [], {}, {}, {}
    if args.parts:
        time_parts(spent)
    profiler = cProfile.Profile(time.process_time) if args.profile else None  # CPU, not wall
    for i in range(args.n + 3):
        at = (datetime.now(UTC) - timedelta(minutes=args.n - i)).astimezone(beijing)
        form = {
            "client_id": str(uuid.uuid4()),
            "kind": "presence",
            "latitude": str(32.7093 + i * 1e-5),
            "longitude": "116.7112",
            "accuracy_m": "10",
            "captured_at": at.replace(microsecond=0).isoformat(),
            "device_id": "bench-phone",
        }
        # Encoded here, outside the timing: on the real path the phone does this.
        body, content_type = multipart(form, distinct(jpeg, i))
        spent.clear()
        if profiler and i == 3:
            profiler.enable()
        c0, w0 = time.process_time(), time.perf_counter()
        response = client.post(
            "/api/v1/checkins", data=body, headers=headers, content_type=content_type
        )
        c1, w1 = time.process_time(), time.perf_counter()
        assert response.status_code == 201, response.json
        if i >= 3:  # warm-up: imports, first pHash index load, first HEIF/JPEG paths
            cpu.append((c1 - c0) * 1000)
            wall.append((w1 - w0) * 1000)
            verdicts[response.json["verdict"]] = verdicts.get(response.json["verdict"], 0) + 1
            for name, seconds in spent.items():
                parts.setdefault(name, []).append(seconds * 1000)
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    cpu.sort()
    print(f"database: {url.split('@')[-1]}")
    print(f"photo: {PHOTO.name}, {len(jpeg) / 1e6:.1f} MB; check-ins timed: {len(cpu)}")
    print(
        f"CPU per check-in: median {statistics.median(cpu):.1f} ms, "
        f"p90 {cpu[int(len(cpu) * 0.9)]:.1f} ms, max {cpu[-1]:.1f} ms"
    )
    print(f"wall per check-in: median {statistics.median(wall):.1f} ms")
    print(f"verdicts: {verdicts}")
    for spec in PARTS:
        name = spec.partition(":")[2]
        if name in parts:
            print(f"  {name:40} CPU median {statistics.median(parts[name]):5.2f} ms")


if __name__ == "__main__":
    main()
