"""check-in indexes for the travel and device rules: (cadre_id, captured_at) and
(device_id, cadre_id) in place of the single-column ones

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 03:00:00

The travel rule asks for a cadre's nearest check-in before a moment: with an index on
captured_at alone, PostgreSQL walked back through everyone's check-ins since the
cadre's last one (a day of a province's, for a cadre who checks in daily). The device
rule counted every check-in of the cadre and of the device. Each is now a probe of one
composite index, whose leading column still serves every query by cadre_id or device_id
alone, so the number of indexes a check-in updates stays the same.

On PostgreSQL the indexes are built CONCURRENTLY, outside a transaction, so check-ins
keep arriving while a table of millions of rows is indexed (6 s for 2.57 million rows
on the 2-core test machine). A concurrent build first waits for the write transactions
already running to finish, so a deploy's `flask db upgrade` can pause behind a long one.
The upgrade can simply be run again after a failure: an index that a failed build left
INVALID is dropped first, and what already exists is kept.
"""

from contextlib import nullcontext

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NEW = {
    "ix_checkin_cadre_id_captured_at": ["cadre_id", "captured_at"],
    "ix_checkin_device_id_cadre_id": ["device_id", "cadre_id"],
}
OLD = {"ix_checkin_cadre_id": ["cadre_id"], "ix_checkin_device_id": ["device_id"]}


def _replace(create, drop):
    context = op.get_context()
    concurrently = context.dialect.name == "postgresql"
    with context.autocommit_block() if concurrently else nullcontext():
        if concurrently:
            _drop_invalid(list(create))
        # The new ones first: queries always have an index to use.
        for name, columns in create.items():
            op.create_index(
                name, "checkin", columns, if_not_exists=True, postgresql_concurrently=concurrently
            )
        for name in drop:
            op.drop_index(
                name, table_name="checkin", if_exists=True, postgresql_concurrently=concurrently
            )


def _drop_invalid(names):
    """Indexes of these names that a failed concurrent build left behind, unusable."""
    invalid = op.get_bind().execute(
        sa.text(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE NOT i.indisvalid AND c.relname = ANY(:names)"
        ),
        {"names": names},
    )
    for (name,) in invalid.all():
        op.drop_index(name, table_name="checkin", postgresql_concurrently=True)


def upgrade():
    _replace(NEW, OLD)


def downgrade():
    _replace(OLD, NEW)
