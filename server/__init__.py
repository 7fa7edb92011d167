"""Application factory."""

import os

from config import BASE_DIR, CONFIGS


def create_app(config=None, **overrides):
    # Imported here, not at the top: `python -m server.tools.verify_draw` runs this
    # package's __init__ and must work with the standard library alone.
    from flask import Flask

    app = Flask(__name__, instance_relative_config=True)
    config_class = config or CONFIGS[os.environ.get("APP_CONFIG", "development")]
    if hasattr(config_class, "check"):
        config_class.check()
    app.config.from_object(config_class)
    app.config.update(overrides)

    register_logging(app)
    register_extensions(app)
    register_rate_limits(app)
    register_errors(app)
    register_hooks(app)
    register_blueprints(app)
    register_commands(app)
    return app


def register_logging(app):
    from server.logging import configure_logging, register_request_logging

    configure_logging(app)
    register_request_logging(app)


def register_extensions(app):
    import server.models  # noqa: F401  (the whole metadata, for Alembic)
    from server.database import render_migration_item  # also installs engine listeners
    from server.extensions import api, db, migrate

    os.makedirs(app.instance_path, exist_ok=True)
    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(BASE_DIR / "migrations"),
        render_as_batch=True,
        compare_type=True,
        # Each revision commits on its own: one that must run outside a transaction
        # (0010's concurrent index builds) then leaves the others' transactions whole.
        transaction_per_migration=True,
        render_item=render_migration_item,
    )
    api.init_app(app)


def register_rate_limits(app):
    from server.ratelimits import register_rate_limits

    register_rate_limits(app)


def register_errors(app):
    from server.errors import register_error_handlers

    register_error_handlers(app)


def register_hooks(app):
    from server.auth import register_auth_hooks
    from server.http import register_http_hooks

    register_http_hooks(app)
    register_auth_hooks(app)


def register_blueprints(app):
    from server.api import register_api
    from server.web import register_web

    register_api(app)
    register_web(app)


def register_commands(app):
    from server.cli import register_cli

    register_cli(app)
