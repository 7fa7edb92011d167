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
    return app


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
    """A small jurisdiction with people in every role; see Factory.world."""
    return make.world()


def pytest_report_header(config):
    url = os.environ.get("DATABASE_URL") or "sqlite (temporary file)"
    return f"database: {url.split('@')[-1]}  (expected dialect: {EXPECTED_DIALECT or 'any'})"
