"""API fuzzing: schemathesis makes requests from the app's own OpenAPI spec, valid and
invalid, for every operation as each role, in-process (WSGI, no server), against a
world seeded once with an object of every kind (tests/fuzz/seed.py). Every answer must
be a documented status (no 5xx) with a documented content type and a body matching
the documented schema.

API_FUZZ_EXAMPLES sets the examples per operation and role (default below; a few
minutes on SQLite for the whole run); API_FUZZ_SEED changes which examples are tried
(the run is reproducible for a given seed)."""

import os
from dataclasses import dataclass
from functools import cache

import pytest
import schemathesis
from flask_migrate import upgrade
from flask_sqlalchemy.session import _app_ctx_id
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import scoped_session, sessionmaker

from config import TestingConfig
from server import create_app
from server.extensions import db
from server.models import User
from tests.factories import Factory
from tests.fuzz.seed import seed as seed_world

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "20"))
SEED = int(os.environ.get("API_FUZZ_SEED", "0"))
ROLES = ("admin", "reviewer", "inspector", "cadre")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
METHODS = {"get", "put", "post", "patch", "delete"}


def fuzz_spec(app):
    """The served spec, held to the statuses each operation names: flask-smorest also
    documents a catch-all `default` error everywhere, which would let any status pass."""
    spec = app.test_client().get("/api/openapi.json").get_json()
    for operations in spec["paths"].values():
        for method, operation in operations.items():
            if method in METHODS:
                operation["responses"].pop("default", None)
    return spec


@cache
def operations():
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI="sqlite://")
    spec = fuzz_spec(app)
    return [
        f"{method.upper()} {path}"
        for path, ops in spec["paths"].items()
        for method in ops
        if method in METHODS
    ]


def pytest_generate_tests(metafunc):
    if "operation" in metafunc.fixturenames:
        metafunc.parametrize("operation", operations())


@dataclass
class Seeded:
    app: object
    roles: dict  # role -> user id
    known: dict  # path parameter name -> values naming real objects


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A database of its own, seeded once and committed; each example rolls back on top
    of it, so every request meets the same world."""
    tmp = tmp_path_factory.mktemp("fuzz")
    base = os.environ.get("DATABASE_URL")
    if base:
        url = make_url(base.replace("postgresql://", "postgresql+psycopg://", 1))
        name = f"{url.database}_fuzz_{os.getpid()}"
        server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        target = url.set(database=name).render_as_string(hide_password=False)
    else:
        server, target = None, f"sqlite:///{tmp / 'fuzz.db'}"
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=target, UPLOAD_DIR=str(tmp / "up"))
    try:
        with app.app_context():
            upgrade()
            roles, known = seed_world(app.test_client())
            db.session.remove()
        yield Seeded(app, roles, known)
    finally:
        with app.app_context():
            db.engine.dispose()
        if server is not None:
            with server.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            server.dispose()


@pytest.fixture(autouse=True)
def _transaction(seeded):
    """Overrides the suite's: the same rollback, on the fuzzer's database; yields the
    connection so that each example can roll back to a savepoint of its own."""
    with seeded.app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = scoped_session(
            sessionmaker(bind=connection, join_transaction_mode="create_savepoint"),
            scopefunc=_app_ctx_id,
        )
        try:
            yield connection
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture(scope="module")
def api_schema(seeded):
    schema = schemathesis.openapi.from_dict(fuzz_spec(seeded.app), config=SchemathesisConfig())
    schema.app = seeded.app
    return schema


def cases(api_operation, known):
    """Valid and invalid requests; path ids mostly name real objects of the world."""
    generated = st.one_of(
        api_operation.as_strategy(GenerationMode.POSITIVE),
        api_operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @st.composite
    def with_known_ids(draw):
        case = draw(generated)
        for name in list(case.path_parameters or {}):
            if name in known and draw(st.integers(0, 3)):
                case.path_parameters[name] = draw(st.sampled_from(known[name]))
        return case

    return with_known_ids()


@pytest.mark.parametrize("role", ROLES)
def test_operation(seeded, api_schema, _transaction, operation, role):
    method, path = operation.split(" ", 1)
    api_operation = api_schema[path][method]
    headers = Factory().headers(db.session.get(User, seeded.roles[role]))
    db.session.commit()

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases(api_operation, seeded.known))
    def fuzz(case):
        # Each example starts from the seeded world: failures replay and shrink exactly.
        example = _transaction.begin_nested()
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        finally:
            # Requests share the test's app context, so its session too: end it first.
            db.session.remove()
            example.rollback()

    fuzz()
