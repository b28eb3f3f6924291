"""part_decision: the expert's decision (successful bid) per part

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa
import hankebot.storage.types
import sqlmodel

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "part_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("procurement_id", sa.Integer(), nullable=False),
        sa.Column("part_no", sa.Integer(), nullable=False),
        sa.Column("bid_id", sa.Integer(), nullable=False),
        sa.Column("top_ranked", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("total", hankebot.storage.types.ExactDecimal(), nullable=True),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("decided_at", hankebot.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["procurement_id"], ["procurement.id"]),
        sa.ForeignKeyConstraint(["bid_id"], ["bid.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("procurement_id", "part_no"),
    )
    op.create_index("ix_part_decision_procurement_id", "part_decision", ["procurement_id"])


def downgrade() -> None:
    op.drop_index("ix_part_decision_procurement_id", table_name="part_decision")
    op.drop_table("part_decision")
