"""Test set-up: the schema is built once per run by the migrations, and each test runs
inside a transaction that is rolled back at its end (SQLAlchemy's "join a session into
an external transaction" recipe). Set DATABASE_URL to run on PostgreSQL."""

import os

import pytest
from flask_migrate import upgrade
from flask_sqlalchemy.session import _app_ctx_id
from sqlalchemy.orm import scoped_session, sessionmaker

from config import TestingConfig
from server import create_app
from server.extensions import db
from tests.factories import Factory

EXPECTED_DIALECT = os.environ.get("EXPECT_DATABASE")  # set by .ci/run
# s3_server, s3_app: a moto S3 server on loopback for the S3 evidence store's tests;
# any_store: the evidence store, once local and once on that server.
pytest_plugins = ["tests.s3_server", "tests.services.storage_kit"]
# Flask-SQLAlchemy's own session (one per app context), before any test swaps it.
APP_SESSION = db.session


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'test.db'}"
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url, UPLOAD_DIR=str(tmp / "uploads"))
    with app.app_context():
        dialect = db.engine.dialect.name
        if EXPECTED_DIALECT and dialect != EXPECTED_DIALECT:
            pytest.exit(f"expected to run on {EXPECTED_DIALECT}, got {dialect}", returncode=3)
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _transaction(app):
    """Every test sees a clean database and leaves nothing behind."""
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = scoped_session(
            sessionmaker(bind=connection, join_transaction_mode="create_savepoint"),
            scopefunc=_app_ctx_id,
        )
        try:
            yield
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make(app):
    return Factory()


@pytest.fixture
def world(make):
    """A small jurisdiction with people in every role; see Factory.world.

    Committed (inside the test's outer transaction), so a request that rolls back its
    own work cannot take the fixture's rows with it."""
    built = make.world()
    db.session.commit()
    return built


def pytest_sessionstart(session):
    """CI sets REQUIRE_TESTDATA: there, tests that would skip for want of the shared
    photos or regions must fail the run instead."""
    if not os.environ.get("REQUIRE_TESTDATA"):
        return
    from config import BASE_DIR

    shared = BASE_DIR.parent / "shared" / "testdata"
    missing = [p for p in (shared / "photos", shared / "regions") if not p.is_dir()]
    if missing:
        pytest.exit(f"REQUIRE_TESTDATA: missing {', '.join(map(str, missing))}", returncode=4)


def pytest_report_header(config):
    url = os.environ.get("DATABASE_URL") or "sqlite (temporary file)"
    return f"database: {url.split('@')[-1]}  (expected dialect: {EXPECTED_DIALECT or 'any'})"


@pytest.fixture
def app_session(_transaction):
    """Flask-SQLAlchemy's real session, for tests that run an app of their own."""
    per_test_session, db.session = db.session, APP_SESSION
    yield
    db.session = per_test_session


@pytest.fixture
def own_database(tmp_path, app_session):
    """A fresh, migrated database of its own, for tests that need real concurrent
    connections or real commits (the per-test transaction cannot give them that).
    It uses the real session (app_session), not the per-test transaction's."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = os.environ.get("DATABASE_URL")
    if base:
        url = make_url(base.replace("postgresql://", "postgresql+psycopg://", 1))
        name = f"{url.database}_own_{os.getpid()}_{tmp_path.name[-12:]}".lower()
        name = "".join(c if c.isalnum() else "_" for c in name)[:60]
        server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with server.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        target = url.set(database=name).render_as_string(hide_password=False)
    else:
        server, name, target = None, None, f"sqlite:///{tmp_path / 'own.db'}"
    own = create_app(
        TestingConfig, SQLALCHEMY_DATABASE_URI=target, UPLOAD_DIR=str(tmp_path / "uploads")
    )
    try:
        with own.app_context():
            upgrade()
        yield own
    finally:
        with own.app_context():
            db.session.remove()
            db.engine.dispose()
    if server is not None:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        server.dispose()
