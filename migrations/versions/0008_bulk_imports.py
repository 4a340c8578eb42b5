"""Bulk imports: a CSV kept between upload, mapping and issuing its passes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('bulk_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('mapping', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('is_dry_run', sa.Boolean(), nullable=False),
    sa.Column('email_passes', sa.Boolean(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('refused', sa.Integer(), nullable=False),
    sa.Column('refused_rows', sa.JSON(), nullable=False),
    sa.Column('problem', sa.Text(), nullable=True),
    sa.Column('mail_batch_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['mail_batch_id'], ['mail_batches.id'], name=op.f('fk_bulk_imports_mail_batch_id_mail_batches'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_bulk_imports_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['template_id'], ['templates.id'], name=op.f('fk_bulk_imports_template_id_templates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bulk_imports'))
    )
    with op.batch_alter_table('bulk_imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bulk_imports_merchant_id'), ['merchant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bulk_imports_template_id'), ['template_id'], unique=False)


def downgrade():
    with op.batch_alter_table('bulk_imports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bulk_imports_template_id'))
        batch_op.drop_index(batch_op.f('ix_bulk_imports_merchant_id'))

    op.drop_table('bulk_imports')
