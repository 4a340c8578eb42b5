"""Mail batches keep the nonce of the form that started them, unique per merchant.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 17:45:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("mail_batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("request_nonce", sa.String(length=64), nullable=True)
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_mail_batches_merchant_id_request_nonce"),
            ["merchant_id", "request_nonce"],
        )


def downgrade():
    with op.batch_alter_table("mail_batches", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_mail_batches_merchant_id_request_nonce"), type_="unique"
        )
        batch_op.drop_column("request_nonce")
