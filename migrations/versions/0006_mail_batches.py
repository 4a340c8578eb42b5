"""Mail batches: download links emailed to customers, one delivery per pass.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 15:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('mail_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('sent', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_mail_batches_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_batches'))
    )
    with op.batch_alter_table('mail_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mail_batches_merchant_id'), ['merchant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mail_batches_started_at'), ['started_at'], unique=False)

    op.create_table('mail_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('pass_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('link_id', sa.Integer(), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['mail_batches.id'], name=op.f('fk_mail_deliveries_batch_id_mail_batches'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['link_id'], ['download_links.id'], name=op.f('fk_mail_deliveries_link_id_download_links'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['pass_id'], ['passes.id'], name=op.f('fk_mail_deliveries_pass_id_passes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_deliveries'))
    )
    with op.batch_alter_table('mail_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mail_deliveries_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mail_deliveries_pass_id'), ['pass_id'], unique=False)


def downgrade():
    with op.batch_alter_table('mail_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mail_deliveries_pass_id'))
        batch_op.drop_index(batch_op.f('ix_mail_deliveries_batch_id'))

    op.drop_table('mail_deliveries')
    with op.batch_alter_table('mail_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mail_batches_started_at'))
        batch_op.drop_index(batch_op.f('ix_mail_batches_merchant_id'))

    op.drop_table('mail_batches')
