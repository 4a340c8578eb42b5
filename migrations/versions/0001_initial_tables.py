"""Initial tables: merchants, pass types, templates, passes, devices, pushes.

Revision ID: 0001
Revises: 
Create Date: 2026-12-03 17:05:54.916752

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('devices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('library_identifier', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_devices')),
    sa.UniqueConstraint('library_identifier', name=op.f('uq_devices_library_identifier'))
    )
    op.create_table('merchants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merchants'))
    )
    op.create_table('update_counter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_update_counter'))
    )
    # The single row that hands out update tags (see models.UpdateCounter).
    op.execute("INSERT INTO update_counter (id, value) VALUES (1, 0)")
    op.create_table('pass_types',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('pass_type_identifier', sa.String(length=255), nullable=False),
    sa.Column('team_identifier', sa.String(length=32), nullable=False),
    sa.Column('certificate_pem', sa.LargeBinary(), nullable=False),
    sa.Column('wwdr_certificate_pem', sa.LargeBinary(), nullable=False),
    sa.Column('private_key_encrypted', sa.LargeBinary(), nullable=False),
    sa.Column('certificate_expires_at', sa.DateTime(), nullable=False),
    sa.Column('push_problem', sa.Text(), nullable=True),
    sa.Column('push_problem_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_pass_types_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pass_types')),
    sa.UniqueConstraint('pass_type_identifier', name=op.f('uq_pass_types_pass_type_identifier'))
    )
    with op.batch_alter_table('pass_types', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pass_types_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_users_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('push_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pass_type_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('push_token_suffix', sa.String(length=8), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=100), nullable=True),
    sa.Column('apns_id', sa.String(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_push_attempts_device_id_devices'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['pass_type_id'], ['pass_types.id'], name=op.f('fk_push_attempts_pass_type_id_pass_types')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_push_attempts'))
    )
    with op.batch_alter_table('push_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_push_attempts_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_push_attempts_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_push_attempts_pass_type_id'), ['pass_type_id'], unique=False)

    op.create_table('templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('pass_type_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('style', sa.String(length=20), nullable=False),
    sa.Column('design', sa.JSON(), nullable=False),
    sa.Column('localizations', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_templates_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['pass_type_id'], ['pass_types.id'], name=op.f('fk_templates_pass_type_id_pass_types')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_templates'))
    )
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_templates_merchant_id'), ['merchant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_templates_pass_type_id'), ['pass_type_id'], unique=False)

    op.create_table('passes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pass_type_id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('serial_number', sa.String(length=64), nullable=False),
    sa.Column('authentication_token', sa.String(length=64), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('is_voided', sa.Boolean(), nullable=False),
    sa.Column('update_tag', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['pass_type_id'], ['pass_types.id'], name=op.f('fk_passes_pass_type_id_pass_types')),
    sa.ForeignKeyConstraint(['template_id'], ['templates.id'], name=op.f('fk_passes_template_id_templates')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_passes')),
    sa.UniqueConstraint('pass_type_id', 'serial_number', name=op.f('uq_passes_pass_type_id_serial_number'))
    )
    with op.batch_alter_table('passes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_passes_template_id'), ['template_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_passes_update_tag'), ['update_tag'], unique=False)

    op.create_table('template_images',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=255), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['template_id'], ['templates.id'], name=op.f('fk_template_images_template_id_templates')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_template_images')),
    sa.UniqueConstraint('template_id', 'path', name=op.f('uq_template_images_template_id_path'))
    )
    op.create_table('download_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pass_id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['pass_id'], ['passes.id'], name=op.f('fk_download_links_pass_id_passes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_download_links')),
    sa.UniqueConstraint('token', name=op.f('uq_download_links_token'))
    )
    with op.batch_alter_table('download_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_download_links_pass_id'), ['pass_id'], unique=False)

    op.create_table('registrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('pass_id', sa.Integer(), nullable=False),
    sa.Column('push_token', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_registrations_device_id_devices')),
    sa.ForeignKeyConstraint(['pass_id'], ['passes.id'], name=op.f('fk_registrations_pass_id_passes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registrations')),
    sa.UniqueConstraint('device_id', 'pass_id', name=op.f('uq_registrations_device_id_pass_id'))
    )
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registrations_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registrations_pass_id'), ['pass_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registrations_push_token'), ['push_token'], unique=False)

    op.create_table('signed_bundles',
    sa.Column('pass_id', sa.Integer(), nullable=False),
    sa.Column('update_tag', sa.BigInteger(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('signed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['pass_id'], ['passes.id'], name=op.f('fk_signed_bundles_pass_id_passes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pass_id', name=op.f('pk_signed_bundles'))
    )
    op.create_table('wallet_log_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pass_id', sa.Integer(), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['pass_id'], ['passes.id'], name=op.f('fk_wallet_log_entries_pass_id_passes'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wallet_log_entries'))
    )
    with op.batch_alter_table('wallet_log_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wallet_log_entries_pass_id'), ['pass_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_wallet_log_entries_received_at'), ['received_at'], unique=False)



def downgrade():
    with op.batch_alter_table('wallet_log_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wallet_log_entries_received_at'))
        batch_op.drop_index(batch_op.f('ix_wallet_log_entries_pass_id'))

    op.drop_table('wallet_log_entries')
    op.drop_table('signed_bundles')
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registrations_push_token'))
        batch_op.drop_index(batch_op.f('ix_registrations_pass_id'))
        batch_op.drop_index(batch_op.f('ix_registrations_device_id'))

    op.drop_table('registrations')
    with op.batch_alter_table('download_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_download_links_pass_id'))

    op.drop_table('download_links')
    op.drop_table('template_images')
    with op.batch_alter_table('passes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_passes_update_tag'))
        batch_op.drop_index(batch_op.f('ix_passes_template_id'))

    op.drop_table('passes')
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_templates_pass_type_id'))
        batch_op.drop_index(batch_op.f('ix_templates_merchant_id'))

    op.drop_table('templates')
    with op.batch_alter_table('push_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_push_attempts_pass_type_id'))
        batch_op.drop_index(batch_op.f('ix_push_attempts_device_id'))
        batch_op.drop_index(batch_op.f('ix_push_attempts_created_at'))

    op.drop_table('push_attempts')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_merchant_id'))

    op.drop_table('users')
    with op.batch_alter_table('pass_types', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pass_types_merchant_id'))

    op.drop_table('pass_types')
    op.drop_table('update_counter')
    op.drop_table('merchants')
    op.drop_table('devices')
