"""When each device last asked for changed passes, and each pass was last fetched.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 18:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_checked_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('passes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_fetched_at', sa.DateTime(), nullable=True))


def downgrade():
    # Not recreated on SQLite (3.35+ drops a column in place): with foreign keys
    # on, dropping the old tables would cascade to registrations and bundles.
    with op.batch_alter_table('passes', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('last_fetched_at')

    with op.batch_alter_table('devices', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('last_checked_at')
