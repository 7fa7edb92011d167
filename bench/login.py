"""Log-in timing: does the answer's time tell an unknown phone from a wrong password?

    .venv/bin/python -m bench.login [--n 30] [--database-url URL]

Runs the app in-process (Flask's test client) with production's Argon2 cost
(config.Config's ARGON2_* defaults, not the tests' cheap ones) against a fresh
database, and posts log-ins in rotation: a known phone with a wrong password, an
unknown phone, and the right password. The lock-out threshold is raised for the run so
every attempt takes the ordinary path (a locked number does the same Argon2 work but
skips recording the failure). Prints the median and spread of wall time and of this
process's CPU per kind; asserts nothing.
"""

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

from config import Config, TestingConfig

KINDS = ("wrong password", "unknown phone", "right password")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    from flask_migrate import upgrade

    from server import auth, create_app
    from server.extensions import db
    from server.models import User

    tmp = Path(tempfile.mkdtemp(prefix="bench-login-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    app = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=url,
        UPLOAD_DIR=str(tmp / "up"),
        LOG_LEVEL="ERROR",
        ARGON2_TIME_COST=Config.ARGON2_TIME_COST,
        ARGON2_MEMORY_COST=Config.ARGON2_MEMORY_COST,
        LOGIN_LOCKOUT_AFTER=10**6,
    )
    with app.app_context():
        upgrade()
        user = User(name="bench", phone="13900001111", roles=["cadre"])
        user.password_hash = auth.hash_password("Bench-2026-login")
        db.session.add(user)
        db.session.commit()
    # The failed log-ins' warnings would flood the figures (upgrade() set up alembic's
    # console logging).
    logging.disable(logging.WARNING)
    client = app.test_client()
    bodies = {
        "wrong password": {"phone": "13900001111", "password": "Not-the-password-1"},
        "unknown phone": {"phone": "13900002222", "password": "Not-the-password-1"},
        "right password": {"phone": "13900001111", "password": "Bench-2026-login"},
    }
    expected = {"wrong password": 401, "unknown phone": 401, "right password": 200}
    wall = {k: [] for k in KINDS}
    cpu = {k: [] for k in KINDS}
    for i in range(args.n + 2):
        for kind in KINDS:
            body = bodies[kind] | {"device_id": "bench-phone"}
            c0, w0 = time.process_time(), time.perf_counter()
            response = client.post("/api/v1/auth/login", json=body)
            c1, w1 = time.process_time(), time.perf_counter()
            assert response.status_code == expected[kind], response.json
            if i >= 2:  # warm-up: the dummy hash is made on the first unknown phone
                wall[kind].append((w1 - w0) * 1000)
                cpu[kind].append((c1 - c0) * 1000)
    print(
        f"database: {url.split('@')[-1]}; argon2 time_cost={Config.ARGON2_TIME_COST}, "
        f"memory_cost={Config.ARGON2_MEMORY_COST} KiB; {args.n} of each, in rotation"
    )
    print(f"{'':16} {'wall median':>12} {'wall p10-p90':>16} {'CPU median':>11}")
    for kind in KINDS:
        w, c = sorted(wall[kind]), sorted(cpu[kind])
        spread = f"{w[len(w) // 10]:.1f}-{w[len(w) * 9 // 10]:.1f}"
        print(
            f"{kind:16} {statistics.median(w):10.1f} ms {spread:>13} ms "
            f"{statistics.median(c):8.1f} ms"
        )
    print("(the 401 answers' bodies are identical: test_login_abuse.py checks that)")


if __name__ == "__main__":
    main()
