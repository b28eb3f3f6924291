"""bid: at most one on-time active bid per bidder and part (partial unique index)

Existing duplicates (left by out-of-order mail before this index) are settled first: the latest by
receive time (then arrival) stays active, the others become superseded by it.

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

WHERE = "status = 'active' AND NOT late AND bidder_id IS NOT NULL"


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        f"SELECT id, procurement_id, part_no, bidder_id FROM bid WHERE {WHERE} "
        "ORDER BY procurement_id, part_no, bidder_id, received_at DESC, inbound_message_id DESC, id DESC")).fetchall()
    keep: dict = {}
    for bid_id, pid, part, bidder in rows:
        k = (pid, part, bidder)
        if k not in keep:
            keep[k] = bid_id
            continue
        conn.execute(sa.text("UPDATE bid SET status = 'superseded', superseded_by = :w WHERE id = :i"),
                     {"w": keep[k], "i": bid_id})
    op.create_index("uq_bid_one_active", "bid", ["procurement_id", "part_no", "bidder_id"], unique=True,
                    sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE))


def downgrade() -> None:
    op.drop_index("uq_bid_one_active", table_name="bid")
