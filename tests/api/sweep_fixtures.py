"""The sweep's worlds, built once per test module, and what its tests share. A test
module imports `sweep` and `_transaction` (the latter overrides the suite's own)."""

import itertools
from dataclasses import dataclass
from functools import cache

import pytest
from flask_sqlalchemy.session import _app_ctx_id
from sqlalchemy.orm import scoped_session, sessionmaker

from config import TestingConfig
from server import create_app
from server.extensions import db
from tests.api import sweep_kit as kit
from tests.api.sweep_inspections import inspections
from tests.api.sweep_lists import rows_of
from tests.api.sweep_world import build_side, crossing, token
from tests.factories import Factory
from tests.test_platform import ERROR_KEYS


def build(client):
    """Both sides and a global admin, committed (inside the caller's transaction)."""
    make = Factory()
    province = make.region("340000000000", "安徽省")
    admin = make.user("admin", name="管理员")
    sides = {tag: build_side(client, make, tag, province) for tag in ("A", "B")}
    for side in sides.values():
        inspections(client, side)
    sides["A"].tokens["admin"] = token(admin)
    db.session.commit()
    crossing(client, sides["A"], sides["B"])
    return sides


@dataclass
class Sweep:
    connection: object
    a: object  # world A: whose objects are looked for
    b: object  # world B: whose people look
    rows_a: dict  # kind -> ids of world A's rows

    def isolated(self, request):
        """Run one request in a savepoint of its own: whatever it changes, the next
        request meets the same worlds. (Requests share the test's app context, so its
        session too: it ends before and after, never holding a savepoint across.)"""
        db.session.remove()
        savepoint = self.connection.begin_nested()
        try:
            return request()
        finally:
            db.session.remove()
            savepoint.rollback()

    def get(self, client, url, headers):
        return self.isolated(lambda: client.get(url, headers=headers))


def _bound_session(connection):
    return scoped_session(
        sessionmaker(bind=connection, join_transaction_mode="create_savepoint"),
        scopefunc=_app_ctx_id,
    )


@pytest.fixture(scope="module")
def sweep(app):
    """Both worlds, built once per module inside an outer transaction rolled back at
    its end (conftest's recipe, one level up); each test runs in a savepoint."""
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original, db.session = db.session, _bound_session(connection)
        try:
            sides = build(app.test_client())
            built = Sweep(connection, sides["A"], sides["B"], rows_of(sides["A"]))
            db.session.remove()
            yield built
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture(autouse=True)
def _transaction(app, sweep):
    """Overrides the suite's: a savepoint in the module's transaction per test."""
    with app.app_context():
        savepoint = sweep.connection.begin_nested()
        original, db.session = db.session, _bound_session(sweep.connection)
        try:
            yield
        finally:
            db.session.remove()
            db.session = original
            savepoint.rollback()


@cache
def spec_operations():
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI="sqlite://")
    return kit.operations(app.test_client().get("/api/openapi.json").get_json())


def allowed(op, label):
    gate = kit.GATES.get(op)
    return gate is None or bool(kit.ROLES[label] & gate)


def is_error(response, status, error=None):
    body = response.get_json(silent=True) or {}
    return (
        response.status_code == status
        and set(body) == ERROR_KEYS
        and body["code"] == status
        and (error is None or body["error"] == error)
    )


def describe(response):
    body = response.get_json(silent=True)
    return f"{response.status_code} {body.get('error') if isinstance(body, dict) else ''}"


def object_combos(op, side):
    """Each way to fill the op's object params with the side's objects: one label per
    param, or for a child path (a case's attachment) the child with its parent."""
    params = kit.object_params(op)
    if params == ["case_id", "attachment_id"]:
        return [{"case_id": side.objects["case"], "attachment_id": side.objects["attachment"]}]
    return [
        dict(zip(params, (side.objects[label] for label in labels), strict=True))
        for labels in itertools.product(*(kit.PATH_OBJECTS[p] for p in params))
    ]
