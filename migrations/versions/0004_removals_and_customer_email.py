"""Registration removals, and the customer email a pass was issued to.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 12:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('registration_removals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pass_id', sa.Integer(), nullable=False),
    sa.Column('library_identifier', sa.String(length=128), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('removed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['pass_id'], ['passes.id'], name=op.f('fk_registration_removals_pass_id_passes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_removals'))
    )
    with op.batch_alter_table('registration_removals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_removals_pass_id'), ['pass_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registration_removals_removed_at'), ['removed_at'], unique=False)

    with op.batch_alter_table('passes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('customer_email', sa.String(length=320), nullable=True))
        batch_op.create_index('ix_passes_pass_type_id_customer_email', ['pass_type_id', 'customer_email'], unique=False)


def downgrade():
    with op.batch_alter_table('registration_removals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registration_removals_removed_at'))
        batch_op.drop_index(batch_op.f('ix_registration_removals_pass_id'))

    op.drop_table('registration_removals')
    # Not recreated on SQLite (3.35+ drops a column in place): with foreign keys
    # on, dropping the old passes table would cascade to download links and
    # signed bundles.
    with op.batch_alter_table('passes', schema=None, recreate='never') as batch_op:
        batch_op.drop_index('ix_passes_pass_type_id_customer_email')
        batch_op.drop_column('customer_email')
