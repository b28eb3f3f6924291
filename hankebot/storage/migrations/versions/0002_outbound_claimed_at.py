"""outbound_message.claimed_at: a sender's claim on a row, so two senders never send the same row

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import hankebot.storage.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_message") as batch:
        batch.add_column(sa.Column("claimed_at", hankebot.storage.types.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbound_message") as batch:
        batch.drop_column("claimed_by")
        batch.drop_column("claimed_at")
