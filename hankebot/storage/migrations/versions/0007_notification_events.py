"""notification.facts: the outbox stores domain events (kind + JSON facts), rendered when delivered

Rows still pending at the upgrade keep the text they were made with, as a "rendered" event.

Revision ID: 0007
Revises: 0006
"""
import json

from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notification") as batch:
        batch.add_column(sa.Column("facts", sa.JSON(), nullable=False, server_default="{}"))
    conn = op.get_bind()
    note = sa.table("notification", sa.column("id", sa.Integer), sa.column("text", sa.Text),
                    sa.column("state", sa.String), sa.column("facts", sa.JSON))
    for nid, text in conn.execute(sa.select(note.c.id, note.c.text)).all():
        # every existing row (pending or not) is a text made before events: a "rendered" event of that text
        conn.execute(note.update().where(note.c.id == nid).values(facts={"event": "rendered", "text": text}))


def downgrade() -> None:
    conn = op.get_bind()
    note = sa.table("notification", sa.column("id", sa.Integer), sa.column("text", sa.Text),
                    sa.column("state", sa.String), sa.column("facts", sa.JSON))
    rows = conn.execute(sa.select(note.c.id, note.c.text, note.c.facts, note.c.state)).all()
    for nid, text, facts, state in rows:
        facts = json.loads(facts) if isinstance(facts, str) else (facts or {})
        if not text and facts.get("event") == "rendered":
            conn.execute(note.update().where(note.c.id == nid).values(text=facts.get("text", "")))
        elif not text and state == "pending":
            conn.execute(note.update().where(note.c.id == nid).values(
                text="(teade vormistatakse uuema versiooniga; vaata /status)"))
    with op.batch_alter_table("notification") as batch:
        batch.drop_column("facts")
