"""The schema the migrations build is exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from server.extensions import db


def test_migrations_match_the_models(app):
    # The session fixture built this database by running every migration. The test's
    # own connection is used: on SQLite it holds the write lock for the whole test.
    connection = db.session.connection()
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    assert compare_metadata(context, db.metadata) == []


def test_the_database_is_at_the_single_migration_head(app):
    current = MigrationContext.configure(db.session.connection()).get_current_revision()
    script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
    assert len(script.get_heads()) == 1
    assert current == script.get_current_head()
