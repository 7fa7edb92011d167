"""retention purge: purged_at on check-ins and photos, positions nullable

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 10:12:03.518204

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    # A purged check-in keeps its row but loses its position (services/retention.py).
    with op.batch_alter_table('checkin', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column('latitude', existing_type=sa.Float(), nullable=True)
        batch_op.alter_column('longitude', existing_type=sa.Float(), nullable=True)
        batch_op.alter_column('accuracy_m', existing_type=sa.Float(), nullable=True)

    with op.batch_alter_table('photo', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    # Purged positions and photo bytes are gone for good: a downgrade cannot give the NOT
    # NULL columns their values back, nor 0008 tell a purged photo from a lost file, so
    # it refuses, before changing anything (SQLite's DDL is not transactional).
    bind = op.get_bind()
    purged = bind.execute(
        sa.text('SELECT COUNT(*) FROM checkin WHERE latitude IS NULL OR purged_at IS NOT NULL')
    ).scalar()
    purged += bind.execute(sa.text('SELECT COUNT(*) FROM photo WHERE purged_at IS NOT NULL')).scalar()
    if purged:
        raise RuntimeError(
            f'{purged} check-ins or photos have been purged; revision 0008 cannot hold them.'
        )
    with op.batch_alter_table('photo', schema=None) as batch_op:
        batch_op.drop_column('purged_at')

    with op.batch_alter_table('checkin', schema=None) as batch_op:
        batch_op.alter_column('accuracy_m', existing_type=sa.Float(), nullable=False)
        batch_op.alter_column('longitude', existing_type=sa.Float(), nullable=False)
        batch_op.alter_column('latitude', existing_type=sa.Float(), nullable=False)
        batch_op.drop_column('purged_at')
