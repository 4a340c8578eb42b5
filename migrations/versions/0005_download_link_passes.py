"""Download links hold a list of passes, so one link can carry a whole order.

Each link's pass moves from download_links.pass_id to a download_link_passes
row at position 0.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 14:10:00

"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

links = sa.table(
    'download_links',
    sa.column('id', sa.Integer()),
    sa.column('pass_id', sa.Integer()),
    sa.column('revoked_at', sa.DateTime()),
)
items = sa.table(
    'download_link_passes',
    sa.column('link_id', sa.Integer()),
    sa.column('pass_id', sa.Integer()),
    sa.column('position', sa.Integer()),
)


def upgrade():
    # The foreign key to download_links comes last: on SQLite, dropping the
    # column rebuilds download_links, and with foreign keys on, dropping the
    # old table would delete every row pointing at it.
    op.create_table('download_link_passes',
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('pass_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['pass_id'], ['passes.id'], name=op.f('fk_download_link_passes_pass_id_passes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('link_id', 'pass_id', name=op.f('pk_download_link_passes'))
    )
    op.execute(
        items.insert().from_select(
            ['link_id', 'pass_id', 'position'],
            sa.select(links.c.id, links.c.pass_id, sa.literal(0)),
        )
    )

    with op.batch_alter_table('download_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_download_links_pass_id'))
        batch_op.drop_constraint(batch_op.f('fk_download_links_pass_id_passes'), type_='foreignkey')
        batch_op.drop_column('pass_id')

    with op.batch_alter_table('download_link_passes', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_download_link_passes_link_id_download_links'), 'download_links', ['link_id'], ['id'], ondelete='CASCADE')
        batch_op.create_index(batch_op.f('ix_download_link_passes_pass_id'), ['pass_id'], unique=False)


def downgrade():
    # Each link gets back its first pass. A link of several passes cannot be
    # one of a single pass: it is revoked rather than handing out part of it.
    with op.batch_alter_table('download_links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pass_id', sa.Integer(), nullable=True))

    first_pass = (
        sa.select(items.c.pass_id)
        .where(items.c.link_id == links.c.id, items.c.position == 0)
        .scalar_subquery()
    )
    op.execute(links.update().values(pass_id=first_pass))
    several = (
        sa.select(items.c.link_id)
        .group_by(items.c.link_id)
        .having(sa.func.count() > 1)
    )
    op.execute(
        links.update()
        .where(links.c.id.in_(several), links.c.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC).replace(tzinfo=None))
    )
    # Links whose passes were all deleted: nothing is left to download.
    op.execute(links.delete().where(links.c.pass_id.is_(None)))

    with op.batch_alter_table('download_link_passes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_download_link_passes_pass_id'))

    op.drop_table('download_link_passes')
    with op.batch_alter_table('download_links', schema=None) as batch_op:
        batch_op.alter_column('pass_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(batch_op.f('fk_download_links_pass_id_passes'), 'passes', ['pass_id'], ['id'], ondelete='CASCADE')
        batch_op.create_index(batch_op.f('ix_download_links_pass_id'), ['pass_id'], unique=False)
