"""Template updates: a template change carried to its passes, with its progress.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 13:05:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('template_updates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('update_tag', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('outcomes', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['template_id'], ['templates.id'], name=op.f('fk_template_updates_template_id_templates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_template_updates'))
    )
    with op.batch_alter_table('template_updates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_template_updates_template_id'), ['template_id'], unique=False)


def downgrade():
    with op.batch_alter_table('template_updates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_template_updates_template_id'))

    op.drop_table('template_updates')
