"""No bidder's address (or name) reaches another bidder: invitations, a receipt, a clarification answering
one bidder's question, and reminders go to several bidders through the real Postfix into real Dovecot
mailboxes; every bidder's whole mailbox (raw bytes and decoded text) is searched for the others."""
from __future__ import annotations

import email
from datetime import datetime, timezone
from email import policy

import pytest

from hankebot.devstack import sample_mail as sm
from hankebot.service.ingest import process_pending, store_raw
from hankebot.service.clarifications import send_clarification
from hankebot.service.invitations import send_invitations
from hankebot.service.receipts import send_receipt
from hankebot.service.reminders import send_reminders
from hankebot.service.send_engine import OutboundOptions
from test_faults_env import MailEnv, _own_mail_server, inbound_rows, mail  # noqa: F401

pytestmark = [pytest.mark.mailserver, pytest.mark.timeout(90)]


def _decoded(raw: bytes) -> str:
    m = email.message_from_bytes(raw, policy=policy.default)
    parts = [f"{k}: {v}" for k, v in m.items()]
    for part in m.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
    return "\n".join(parts)


async def test_no_bidder_sees_another_bidders_address(mail, tmp_path, monkeypatch):
    env = MailEnv(mail, tmp_path, n_bidders=4)
    ctx = env.open(monkeypatch)
    opts = OutboundOptions(backoff_base_seconds=0.01)
    b = [a for a, _ in env.bidders]
    names = [r["name"] for r in env.bidder_rows]
    rep = await send_invitations(ctx, "302834", opts=opts)
    assert sorted(rep.sent) == sorted(b), rep.format()

    now = datetime.now(timezone.utc)
    store_raw(ctx, "INBOX", 1, 1, sm.question_message(b[0], names[0], env.tender[0]), now)
    store_raw(ctx, "INBOX", 1, 2, sm.decline_message(b[1], names[1], env.tender[0]), now)
    assert process_pending(ctx) == 2
    q = next(r for r in inbound_rows(ctx) if r.kind == "question")
    receipt = await send_receipt(ctx, q.id, [], opts=opts)
    clar = await send_clarification(ctx, "302834", "Vastus küsimusele: ruumi rent ei kuulu maksumusse.",
                                    answers_inbound_id=q.id, opts=opts)
    rem = await send_reminders(ctx, "302834", "test", opts=opts)
    assert receipt.sent == [b[0]] and sorted(clar.sent) == sorted(b) and set(rem.sent) == {b[0], b[2], b[3]}, \
        (receipt.format(), clar.format(), rem.format())
    expected = {env.bidders[0]: 4, env.bidders[1]: 2, env.bidders[2]: 3, env.bidders[3]: 3}
    counts = env.wait_counts(expected)
    assert counts == expected, counts

    scanned = 0
    for i, user in enumerate(env.bidders):
        for raw in env.raws(user):
            scanned += 1
            low, text = raw.lower(), _decoded(raw)
            for j, other in enumerate(b):
                if j == i:
                    continue
                assert other.lower().encode() not in low, (user[0], other)
                assert other.split("@")[0] not in text and names[j] not in text, (user[0], other)
    print(f"\nsurvived: {scanned} messages (4 invitations, 1 receipt, 4 clarifications, 3 reminders) in 4 real "
          f"mailboxes searched: 0 foreign bidder addresses or names")
