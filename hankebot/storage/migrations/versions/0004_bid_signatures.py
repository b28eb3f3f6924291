"""bid.signatures: the validated digital signatures of the bid's containers (SiVa-shaped reports)

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bid") as batch:
        batch.add_column(sa.Column("signatures", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    with op.batch_alter_table("bid") as batch:
        batch.drop_column("signatures")
