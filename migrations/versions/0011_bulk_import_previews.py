"""Bulk import previews: the file's layout and first rows checked, kept per mapping.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-12 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    # Imports stored before have none: the page makes theirs when first shown.
    with op.batch_alter_table('bulk_imports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('preview', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('bulk_imports', schema=None) as batch_op:
        batch_op.drop_column('preview')
