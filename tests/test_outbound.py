"""Outbound mail against a REAL mail server (Postfix SMTP with AUTH delivering into Dovecot mailboxes).

Every test gets its own fresh mailbox users (unique names), so tests never see each other's mail."""
from __future__ import annotations

import asyncio
import email
import itertools
import shutil
import time
import uuid
from datetime import datetime, timedelta
from email import policy
from pathlib import Path

import pytest
from sqlmodel import select

from hankebot.devstack.mailserver import MailServer
from hankebot.mailer import smtp_sender
from hankebot.service.config import load_config
from hankebot.service.context import open_context
from hankebot.service.clarifications import send_clarification
from hankebot.service.invitations import send_invitations
from hankebot.service.receipts import send_receipt
from hankebot.service.reminders import send_reminders
from hankebot.service.send_engine import OutboundOptions
from hankebot.service.send_resume import resume_unsent
from hankebot.storage.tables import InboundMessage, OutboundMessage
from tests.helpers import TALLINN, Clock, add_bid, get_state, make_config, with_text

pytestmark = [pytest.mark.mailserver, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parent.parent
REAL_FORMS = REPO / "forms" / "302834"
NOW = datetime(2026, 1, 5, 10, 0, tzinfo=TALLINN)
FAST = dict(backoff_base_seconds=0.01, backoff_max_seconds=0.02, copy_wait_seconds=3, copy_poll_seconds=0.25)
_n = itertools.count(1)


# ---------------------------------------------------------------- the mail server and per-test users


@pytest.fixture
def mail(mail_server: MailServer) -> MailServer:
    """The session's real Postfix + Dovecot (tests/conftest.py)."""
    return mail_server


class UserPool:
    """Fresh mailbox users (empty mailboxes) for each test, created in one go at module start."""

    GROUP = 7  # tender, expert, 5 bidders

    def __init__(self, mail: MailServer, groups: int):
        self.ms = mail
        tag = uuid.uuid4().hex[:6]
        self.free = [[(f"{role}-{tag}g{g}@example.test", f"{role}{tag}g{g}pass")
                      for role in ["tender", "expert", "bidder1", "bidder2", "bidder3", "bidder4", "bidder5"]]
                     for g in range(groups)]
        mail.add_users(dict(u for group in self.free for u in group))  # returns once Dovecot knows them

    def take(self) -> list[tuple[str, str]]:
        return self.free.pop()


@pytest.fixture(scope="module")
def user_pool(mail_server: MailServer) -> UserPool:
    return UserPool(mail_server, groups=24)


class Env:
    def __init__(self, mail: MailServer, pool: UserPool, tmp_path: Path, monkeypatch, n_bidders: int = 5,
                 auth: bool = True, extra_bidders: list[dict] | None = None, edit=None):
        self.ms = mail
        group = pool.take()
        self.tender, self.expert = group[0], group[1]
        self.bidders = group[2:2 + n_bidders]
        monkeypatch.setenv("HANKEBOT_SMTP_PASSWORD", self.tender[1])
        monkeypatch.setenv("HANKEBOT_IMAP_PASSWORD", self.tender[1])
        bidders = [{"key": f"b{i}", "name": f"Pakkuja {i} OÜ" if i % 2 else f"Mari Õunapuu {i}", "email": addr,
                    "person_type": "legal" if i % 2 else "natural"} for i, (addr, _) in enumerate(self.bidders, 1)]
        bidders += extra_bidders or []

        def _edit(data: dict) -> None:
            data["mail"]["smtp"] = {"host": "127.0.0.1", "port": mail.smtp_port, "security": "none",
                                    "username": self.tender[0] if auth else None, "max_attempts": 3,
                                    "timeout_seconds": 10}
            if not auth:
                del data["mail"]["smtp"]["username"]
            data["mail"]["imap"] = {"host": "127.0.0.1", "port": mail.imap_port, "security": "none",
                                    "username": self.tender[0]}
            proc = data["procurement"][0]
            proc["mailbox"] = self.tender[0]
            proc["expert_email"] = self.expert[0]
            proc["bidders"] = bidders
            if edit:
                edit(data)

        self.config_path = make_config(tmp_path, edit=_edit)
        fdir = tmp_path / "forms" / "302834"
        if REAL_FORMS.is_dir():  # the real blank forms when they exist; placeholders otherwise
            for f in REAL_FORMS.iterdir():
                if (fdir / f.name).exists():
                    shutil.copyfile(f, fdir / f.name)
        self.form_files = sorted(fdir.iterdir())
        self.clock = Clock(NOW)
        self.ctx = open_context(load_config(self.config_path), clock=self.clock)

    def reopen(self):
        """A fresh context on the same database: what a restarted service sees."""
        self.ctx = open_context(load_config(self.config_path), clock=self.clock)
        return self.ctx

    def raws(self, user: tuple[str, str]) -> list[bytes]:
        with self.ms.mailbox(user[0], user[1]) as mb:
            typ, data = mb.client.uid("FETCH", "1:*", "(BODY.PEEK[])")
            return [item[1] for item in data if isinstance(item, tuple)]

    def count(self, user: tuple[str, str]) -> int:
        return self.ms.mailbox_count(user[0], user[1])

    def wait_counts(self, expected: dict[tuple[str, str], int], timeout: float = 20) -> dict:
        """Poll until every mailbox holds its expected count (Postfix delivers asynchronously), then let the
        queue drain (Postfix has delivered everything it accepted) and count again, so a late duplicate is seen."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = {u: self.count(u) for u in expected}
            if all(got[u] >= n for u, n in expected.items()):
                break
            time.sleep(0.2)
        assert self.ms.wait_queue_empty(), "Postfix still holds mail"  # a late duplicate would be in now
        return {u: self.count(u) for u in expected}

    def rows(self, kind: str | None = None) -> list[OutboundMessage]:
        with self.ctx.uow() as uow:
            q = select(OutboundMessage)
            if kind:
                q = q.where(OutboundMessage.kind == kind)
            return list(uow.repo.s.exec(q.order_by(OutboundMessage.id)))


@pytest.fixture
def env(mail, user_pool, tmp_path, monkeypatch) -> Env:
    return Env(mail, user_pool, tmp_path, monkeypatch)


def parsed(raw: bytes):
    return email.message_from_bytes(raw, policy=policy.default)


class Crash(BaseException):
    """Stands for the process dying (kill -9): not an Exception, nothing catches it."""


def crashing_send(crash_at: int, deliver_first: bool):
    """smtp_sender.send that works for `crash_at` messages, then dies on the next one: after the SMTP
    transaction completed (deliver_first) or before it started."""
    state = {"n": 0}

    async def send(raw, sender, rcpts, smtp, password):
        if state["n"] == crash_at:
            if deliver_first:
                await smtp_sender.send(raw, sender, rcpts, smtp, password)
            raise Crash()
        state["n"] += 1
        return await smtp_sender.send(raw, sender, rcpts, smtp, password)

    return send


# ---------------------------------------------------------------- invitations


async def test_every_bidder_gets_exactly_one_private_invitation_with_identical_forms(env: Env):
    report = await send_invitations(env.ctx, "302834", opts=OutboundOptions(**FAST))
    assert report.errors == [] and report.failed == []
    assert sorted(report.sent) == sorted(a for a, _ in env.bidders)
    assert report.state == "open" and get_state(env.ctx) == "open"

    counts = env.wait_counts({**{b: 1 for b in env.bidders}, env.tender: 5})
    assert counts == {**{b: 1 for b in env.bidders}, env.tender: 5}  # the mailbox got a Bcc copy of each
    forms = {f.name: f.read_bytes() for f in env.form_files}
    addresses = [a for a, _ in env.bidders]
    for i, b in enumerate(env.bidders):
        (raw,) = env.raws(b)
        m = parsed(raw)
        assert [a.addr_spec for a in m["To"].addresses] == [b[0]]
        assert m["Cc"] is None and m["Bcc"] is None and m["Auto-Submitted"] is None
        assert m["From"].addresses[0].addr_spec == env.expert[0]
        assert m["Reply-To"].addresses[0].addr_spec == env.tender[0]
        assert m["Message-ID"].strip().startswith(f"<hankebot.302834.invitation.b{i + 1}.")
        got = {a.get_filename(): a.get_content() for a in m.iter_attachments()}
        assert got == forms  # every form, byte-identical
        body = m.get_body(("plain",)).get_content()
        assert "19.01.2026 kell 15.00" in body
        assert "II moodul" in body  # the invited part
        sheet = "füüsilise isiku maksumus" if i % 2 else "juriidilise isiku maksumus"
        assert sheet in body
        lowered = raw.lower()
        for other in addresses:
            if other != b[0]:
                assert other.lower().encode() not in lowered, f"{other} leaked into {b[0]}'s invitation"
    for raw in env.raws(env.tender):
        assert b"\nbcc:" not in raw.lower().replace(b"\r\n", b"\n")

    rows = env.rows("invitation")
    assert [r.state for r in rows] == ["sent"] * 5 and all(r.attempts == 1 for r in rows)
    assert {r.dedupe_key for r in rows} == {f"invitation:302834:b{i}" for i in range(1, 6)}
    delivered = {b[0]: env.raws(b)[0] for b in env.bidders}
    for r in rows:  # the stored .eml is exactly what was delivered (after the headers the server prepends)
        stored = env.ctx.raw.get(r.raw_path)
        assert delivered[r.recipient].endswith(stored)


async def test_running_twice_sends_nothing_new(env: Env):
    first = await send_invitations(env.ctx, "302834", opts=OutboundOptions(**FAST))
    assert len(first.sent) == 5
    second = await send_invitations(env.ctx, "302834", opts=OutboundOptions(**FAST))
    assert second.sent == [] and sorted(second.already_sent) == sorted(first.sent) and second.errors == []
    assert "Juba varem saadetud (5)" in second.format_et()
    assert len(env.rows()) == 5
    assert env.wait_counts({b: 1 for b in env.bidders}) == {b: 1 for b in env.bidders}


async def test_missing_form_stops_the_whole_batch(env: Env):
    env.form_files[-1].unlink()
    report = await send_invitations(env.ctx, "302834", opts=OutboundOptions(**FAST))
    assert [p.code for p in report.errors] == ["form_missing"]
    assert report.sent == [] and report.failed == []
    assert "kutseid ei saadeta" in report.format_et().lower() or "midagi ei saadetud" in report.format_et()
    assert env.rows() == []
    assert get_state(env.ctx) == "draft"
    assert env.ms.wait_queue_empty()  # whatever was accepted is delivered by now
    assert all(env.count(u) == 0 for u in [*env.bidders, env.tender])


async def test_past_deadline_and_bad_template_refuse_everything(env: Env, tmp_path: Path):
    env.clock.set(datetime(2026, 1, 20, 9, 0, tzinfo=TALLINN))
    report = await send_invitations(env.ctx, "302834", opts=OutboundOptions(**FAST))
    assert "deadline_past" in [p.code for p in report.errors]
    assert env.rows() == []


async def test_dry_run_writes_eml_files_and_sends_nothing(env: Env, tmp_path: Path):
    out = tmp_path / "preview"
    report = await send_invitations(env.ctx, "302834", dry_run=True, out_dir=out)
    assert report.errors == [] and report.sent == [] and report.dry_run
    assert len(report.eml_paths) == 5 and all(p.parent == out and p.suffix == ".eml" for p in report.eml_paths)
    tos = sorted(parsed(p.read_bytes())["To"].addresses[0].addr_spec for p in report.eml_paths)
    assert tos == sorted(a for a, _ in env.bidders)
    assert env.rows() == [] and get_state(env.ctx) == "draft"
    default = await send_invitations(env.ctx, "302834", dry_run=True)
    assert all(p.is_relative_to(env.ctx.cfg.data_dir / "dry-run" / "302834") for p in default.eml_paths)
    assert env.ms.wait_queue_empty()  # whatever was accepted is delivered by now
    assert all(env.count(u) == 0 for u in [*env.bidders, env.tender])


@pytest.mark.parametrize("deliver_first", [True, False], ids=["crash-after-smtp", "crash-before-smtp"])
async def test_restart_mid_batch_sends_no_duplicates(env: Env, deliver_first: bool):
    with pytest.raises(Crash):
        await send_invitations(env.ctx, "302834", opts=OutboundOptions(send_fn=crashing_send(2, deliver_first), **FAST))
    states = [r.state for r in env.rows("invitation")]
    assert states == ["sent", "sent", "sending", "pending", "pending"]
    assert get_state(env.ctx) == "invited"
    if deliver_first:  # the interrupted message did reach the server: wait until its copy is in the mailbox
        env.wait_counts({env.bidders[2]: 1, env.tender: 3})

    ctx = env.reopen()  # the service restarts
    report = await resume_unsent(ctx, OutboundOptions(**FAST))
    assert report.errors == [] and report.failed == []
    if deliver_first:
        assert report.confirmed == [env.bidders[2][0]] and len(report.sent) == 2
    else:
        assert report.confirmed == [] and len(report.sent) == 3
    assert get_state(ctx) == "open"
    assert [r.state for r in env.rows("invitation")] == ["sent"] * 5
    expected = {**{b: 1 for b in env.bidders}, env.tender: 5}
    assert env.wait_counts(expected) == expected
    # and a second resume (or a re-run) finds nothing to do
    again = await resume_unsent(ctx, OutboundOptions(**FAST))
    assert again.sent == [] and again.confirmed == []


async def test_transient_failures_are_retried_with_backoff(env: Env):
    proxy = await RefusingProxy.start(env.ms.smtp_port, refuse_first=2)
    try:
        env.ctx.settings.mail.smtp.port = proxy.port
        sleeps: list[float] = []

        async def sleep(s: float) -> None:
            sleeps.append(s)

        opts = OutboundOptions(backoff_base_seconds=0.5, backoff_max_seconds=0.75, sleep=sleep)
        report = await send_invitations(env.ctx, "302834", opts=opts)
    finally:
        await proxy.close()
    assert report.failed == [] and len(report.sent) == 5
    assert sleeps[:2] == [0.5, 0.75]  # exponential, capped
    rows = env.rows("invitation")
    assert rows[0].attempts == 3 and all(r.attempts == 1 for r in rows[1:])
    assert env.wait_counts({b: 1 for b in env.bidders}) == {b: 1 for b in env.bidders}


async def test_server_unavailable_stops_the_batch_and_notifies_once(env: Env):
    proxy = await RefusingProxy.start(env.ms.smtp_port, refuse_first=10**6)
    try:
        env.ctx.settings.mail.smtp.port = proxy.port
        report = await send_invitations(env.ctx, "302834", opts=OutboundOptions(**FAST))
    finally:
        await proxy.close()
    assert report.sent == [] and report.failed == []
    assert [p.code for p in report.errors] == ["smtp_unavailable"]
    assert "421" in report.errors[0].message and "Saatmata jäi 5 kirja" in report.errors[0].message
    rows = env.rows("invitation")
    assert [r.state for r in rows] == ["pending"] * 5  # they wait; nothing is lost or marked failed
    assert [r.attempts for r in rows] == [3, 0, 0, 0, 0]  # smtp.max_attempts = 3, then the batch stopped
    assert "421" in rows[0].last_error
    assert get_state(env.ctx) == "invited"
    with env.ctx.uow() as uow:
        notes = with_text(env.ctx, uow.repo.notifications(kind="outbound_stopped"))
        assert len(notes) == 1 and "Saatmine peatati" in notes[0].text
        assert len(uow.repo.audit_rows(action="outbound_stopped")) == 1
    # the server is back: the next service start (resume) sends them all
    env.ctx.settings.mail.smtp.port = env.ms.smtp_port
    again = await resume_unsent(env.ctx, OutboundOptions(**FAST))
    assert len(again.sent) == 5 and again.errors == [] and get_state(env.ctx) == "open"
    assert env.wait_counts({b: 1 for b in env.bidders}) == {b: 1 for b in env.bidders}


async def test_permanent_refusal_is_recorded_with_the_server_text(mail, user_pool, tmp_path, monkeypatch):
    outsider = {"key": "outsider", "name": "Väline OÜ", "email": "pakkumised@elsewhere.example"}
    env = Env(mail, user_pool, tmp_path, monkeypatch, n_bidders=3, auth=False, extra_bidders=[outsider])
    report = await send_invitations(env.ctx, "302834", opts=OutboundOptions(**FAST))
    assert len(report.sent) == 3
    assert [who for who, _ in report.failed] == ["pakkumised@elsewhere.example"]
    why = report.failed[0][1]
    assert "554" in why and "Relay access denied" in why
    row = next(r for r in env.rows() if r.recipient == "pakkumised@elsewhere.example")
    assert row.state == "failed" and row.attempts == 1 and "Relay access denied" in row.last_error
    with env.ctx.uow() as uow:
        notes = with_text(env.ctx, uow.repo.notifications(kind="outbound_failed"))
        assert len(notes) == 1 and "pakkumised@elsewhere.example" in notes[0].text
        audits = uow.repo.audit_rows(action="outbound_failed")
        assert len(audits) == 1 and audits[0].details["recipient"] == "pakkumised@elsewhere.example"
        assert len(uow.repo.audit_rows(action="outbound_sent")) == 3
    assert get_state(env.ctx) == "invited"  # not every invitation went out
    # all-or-nothing: the refused message left no copy in the procurement mailbox
    assert env.wait_counts({env.tender: 3}) == {env.tender: 3}


async def test_failure_notice_is_an_event_of_facts_rendered_at_delivery(mail, user_pool, tmp_path, monkeypatch):
    """The outbox row of a failed message holds facts only (no text made by the sender); the text is made
    when it is delivered, with the server's reply escaped for Telegram HTML (Postfix puts <address> in it)."""
    from hankebot.bot.texts import strip_html

    outsider = {"key": "outsider", "name": "Väline OÜ", "email": "pakkumised@elsewhere.example"}
    env = Env(mail, user_pool, tmp_path, monkeypatch, n_bidders=1, auth=False, extra_bidders=[outsider])
    report = await send_invitations(env.ctx, "302834", opts=OutboundOptions(**FAST))
    assert [who for who, _ in report.failed] == ["pakkumised@elsewhere.example"]
    with env.ctx.uow() as uow:
        (note,) = uow.repo.notifications(kind="outbound_failed")
        assert note.text == ""
        facts = note.facts
        assert facts["event"] == "outbound_failed" and facts["what"] == "invitation"
        assert facts["proc_key"] == "302834" and facts["recipient"] == "pakkumised@elsewhere.example"
        assert "Relay access denied" in facts["error"] and facts["error"] == report.failed[0][1]
        (text,) = [n.text for n in with_text(env.ctx, [note])]
    assert "<pakkumised@elsewhere.example>" in facts["error"]  # Postfix names the refused address in <>
    assert "<" not in text and "&lt;pakkumised@elsewhere.example&gt;" in text  # escaped: valid Telegram HTML
    assert strip_html(text) == (f"⚠️ Hange 302834: Kutset ei õnnestunud saata aadressile pakkumised@elsewhere.example."
                                f"\nPõhjus: {facts['error']}")


async def test_wrong_smtp_password_stops_at_the_first_message(env: Env, monkeypatch, wrong_password: str):
    monkeypatch.setenv("HANKEBOT_SMTP_PASSWORD", wrong_password)
    report = await send_invitations(env.ctx, "302834", opts=OutboundOptions(**FAST))
    assert report.sent == [] and report.failed == []
    assert [p.code for p in report.errors] == ["smtp_unavailable"] and "535" in report.errors[0].message
    assert [r.attempts for r in env.rows()] == [1, 0, 0, 0, 0]  # permanent: not retried
    assert all(r.state == "pending" for r in env.rows())
    monkeypatch.setenv("HANKEBOT_SMTP_PASSWORD", env.tender[1])  # the admin fixes the secret and re-runs
    again = await send_invitations(env.ctx, "302834", opts=OutboundOptions(**FAST))
    assert len(again.sent) == 5 and again.errors == []


# ---------------------------------------------------------------- clarifications, reminders, receipts


def _inbound(ctx, bidder_key: str | None, kind: str, sender: str | None = None, raw: bytes = b"", **kw) -> int:
    with ctx.uow() as uow:
        repo = uow.repo
        p = repo.procurement("302834")
        b = next((x for x in repo.bidders(p.id) if x.key == bidder_key), None)
        sha, rel = ctx.raw.put(raw or uuid.uuid4().hex.encode(), ".eml")
        m = repo.add(InboundMessage(folder="INBOX", uidvalidity=1, uid=next(_n) + 10_000, sha256=sha, raw_path=rel,
                                    received_at=kw.pop("received_at", NOW + timedelta(hours=4, minutes=32)),
                                    state="processed", kind=kind, procurement_id=p.id, bidder_id=b.id if b else None,
                                    sender=sender or (b.email if b else None), **kw))
        uow.commit()
        return m.id


async def test_clarification_reaches_every_invitee_alike(env: Env, tmp_path: Path):
    await send_invitations(env.ctx, "302834", opts=OutboundOptions(**FAST))
    q = _inbound(env.ctx, "b3", "question", subject="Küsimus", message_id="<q1@bidder3.example>")
    att = tmp_path / "Selgitus – õppekava muudatus.pdf"
    att.write_bytes(b"%PDF-1.4 selgitus " * 100)
    text = "Koolitusgrupi suurus on kuni 20 inimest."
    env.clock.set(datetime(2026, 1, 8, 10, 0, tzinfo=TALLINN))  # Thursday: 7 working days left
    report = await send_clarification(env.ctx, "302834", text, [att], answers_inbound_id=q,
                                      opts=OutboundOptions(**FAST))
    assert report.errors == [] and report.warnings == [] and len(report.sent) == 5
    counts = env.wait_counts({b: 2 for b in env.bidders})
    assert counts == {b: 2 for b in env.bidders}
    bodies = []
    for b in env.bidders:
        m = next(parsed(r) for r in env.raws(b) if b".clarification." in r)
        assert [a.addr_spec for a in m["To"].addresses] == [b[0]]
        assert m["In-Reply-To"] is None  # the asker stays anonymous
        assert {a.get_filename(): a.get_content() for a in m.iter_attachments()} == {att.name: att.read_bytes()}
        body = m.get_body(("plain",)).get_content()
        assert text in body and "bidder3" not in body
        bodies.append(body.replace(m["To"].addresses[0].display_name, ""))
    assert len(set(bodies)) == 1  # the same text for everyone but the greeting
    rows = env.rows("clarification")
    assert len(rows) == 5 and all(r.answers_inbound_id == q for r in rows)
    # the same clarification again is not sent twice
    again = await send_clarification(env.ctx, "302834", text, [att], answers_inbound_id=q, opts=OutboundOptions(**FAST))
    assert again.sent == [] and len(again.already_sent) == 5


async def test_late_clarification_warns(env: Env):
    await send_invitations(env.ctx, "302834", opts=OutboundOptions(**FAST))
    env.clock.set(datetime(2026, 1, 16, 10, 0, tzinfo=TALLINN))  # Friday; deadline Monday 15.00
    report = await send_clarification(env.ctx, "302834", "Lisainfo.", opts=OutboundOptions(**FAST))
    assert [p.code for p in report.warnings] == ["clarification_late"]
    assert "1 tööpäeva" in report.warnings[0].message
    assert len(report.sent) == 5


async def test_clarification_before_invitations_or_after_deadline_is_refused(env: Env):
    report = await send_clarification(env.ctx, "302834", "Lisainfo.", opts=OutboundOptions(**FAST))
    assert {p.code for p in report.errors} == {"wrong_state", "no_invitees"}
    await send_invitations(env.ctx, "302834", opts=OutboundOptions(**FAST))
    env.clock.set(datetime(2026, 1, 19, 15, 0, tzinfo=TALLINN))
    report = await send_clarification(env.ctx, "302834", "Lisainfo.", opts=OutboundOptions(**FAST))
    assert [p.code for p in report.errors] == ["deadline_past"]
    assert env.rows("clarification") == []


async def test_reminders_skip_those_who_bid_or_declined(env: Env):
    await send_invitations(env.ctx, "302834", opts=OutboundOptions(**FAST))
    add_bid(env.ctx, "b1")
    _inbound(env.ctx, "b2", "decline")
    _inbound(env.ctx, "b3", "question")
    env.clock.set(datetime(2026, 1, 15, 10, 0, tzinfo=TALLINN))
    report = await send_reminders(env.ctx, "302834", "2-tööpäeva", opts=OutboundOptions(**FAST))
    assert report.errors == []
    assert sorted(report.sent) == sorted(a for a, _ in env.bidders[2:])
    assert sorted(w for w, _ in report.skipped) == sorted(a for a, _ in env.bidders[:2])
    expected = {env.bidders[0]: 1, env.bidders[1]: 1, env.bidders[2]: 2, env.bidders[3]: 2, env.bidders[4]: 2}
    assert env.wait_counts(expected) == expected
    m = next(parsed(r) for r in env.raws(env.bidders[3]) if b".reminder." in r)
    assert m["Auto-Submitted"] == "auto-generated" and "19.01.2026 kell 15.00" in m["Subject"]
    again = await send_reminders(env.ctx, "302834", "2-tööpäeva", opts=OutboundOptions(**FAST))
    assert again.sent == [] and len(again.already_sent) == 3


async def test_receipt_lists_files_and_never_answers_machines(env: Env):
    await send_invitations(env.ctx, "302834", opts=OutboundOptions(**FAST))
    bid_msg = _inbound(env.ctx, "b4", "bid", subject="Pakkumus", message_id="<p1@bidder4.example>")
    report = await send_receipt(env.ctx, bid_msg, ["Lisa 2 pakkumuse vorm.docx", "Lisa 3 maksumuse vorm.xlsx"],
                                opts=OutboundOptions(**FAST))
    assert report.sent == [env.bidders[3][0]]
    assert env.wait_counts({env.bidders[3]: 2}) == {env.bidders[3]: 2}
    m = next(parsed(r) for r in env.raws(env.bidders[3]) if b".receipt." in r)
    assert m["Auto-Submitted"] == "auto-replied" and m["In-Reply-To"] == "<p1@bidder4.example>"
    body = m.get_body(("plain",)).get_content()
    assert "05.01.2026 kell 14.32" in body and "Lisa 3 maksumuse vorm.xlsx" in body
    assert "punkt" not in body and "hind" not in body.lower()  # never an evaluation
    again = await send_receipt(env.ctx, bid_msg, ["x"], opts=OutboundOptions(**FAST))
    assert again.sent == [] and again.already_sent == [env.bidders[3][0]]

    auto_raw = b"From: b5 <x@y.example>\r\nAuto-Submitted: auto-replied\r\nSubject: Out of office\r\n\r\nhi\r\n"
    cases = [
        _inbound(env.ctx, "b5", "auto_reply"),
        _inbound(env.ctx, "b5", "bounce"),
        _inbound(env.ctx, "b5", "bid", raw=auto_raw),
        _inbound(env.ctx, None, "other", sender="MAILER-DAEMON@example.test"),
        _inbound(env.ctx, None, "other", sender="no-reply@bidder.example"),
        _inbound(env.ctx, None, "other", sender=""),
        _inbound(env.ctx, "b5", "bid", raw=b"From: a@b.example\r\nPrecedence: bulk\r\n\r\nx"),
    ]
    for mid in cases:
        r = await send_receipt(env.ctx, mid, ["a.docx"], opts=OutboundOptions(**FAST))
        assert r.sent == [] and len(r.skipped) == 1, (mid, r.skipped)
    assert len(env.rows("receipt")) == 1
    assert env.ms.wait_queue_empty()  # whatever was accepted is delivered by now
    assert env.count(env.bidders[4]) == 1  # only the invitation


# ---------------------------------------------------------------- a 421-refusing proxy for transient failures


class RefusingProxy:
    """Answers the first `refuse_first` connections with a real SMTP 421 greeting and hangs up; later
    connections are piped to the real Postfix."""

    def __init__(self, target_port: int, refuse_first: int):
        self.target_port, self.left = target_port, refuse_first
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    @classmethod
    async def start(cls, target_port: int, refuse_first: int) -> "RefusingProxy":
        self = cls(target_port, refuse_first)
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.left > 0:
            self.left -= 1
            writer.write(b"421 4.3.2 Service not available, try again later\r\n")
            await writer.drain()
            writer.close()
            return
        ur, uw = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(r, w):
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                w.close()

        await asyncio.gather(pipe(reader, uw), pipe(ur, writer))

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def test_resume_without_imap_resends_with_a_warning(mail, user_pool, tmp_path, monkeypatch):
    env = Env(mail, user_pool, tmp_path, monkeypatch, edit=lambda d: d["mail"].pop("imap"))
    with pytest.raises(Crash):
        await send_invitations(env.ctx, "302834", opts=OutboundOptions(send_fn=crashing_send(1, False), **FAST))
    report = await resume_unsent(env.reopen(), OutboundOptions(**FAST))
    assert [p.code for p in report.warnings] == ["resend_unverified"]
    assert len(report.sent) == 4 and get_state(env.ctx) == "open"
    expected = {b: 1 for b in env.bidders}
    assert env.wait_counts(expected) == expected


# ---------------------------------------------------------------- two senders at once


async def test_a_row_in_flight_in_another_live_process_is_left_alone_until_that_process_dies(env: Env):
    """`send-invitations` in one process while the service starts in another: the service's resume must not
    send a row the other process is sending; once that process is dead, resume verifies and sends it."""
    import subprocess

    from sqlalchemy import update

    from hankebot.storage import claims

    with pytest.raises(Crash):  # one row left 'sending'
        await send_invitations(env.ctx, "302834", opts=OutboundOptions(send_fn=crashing_send(0, False), **FAST))
    other = subprocess.Popen(["sleep", "60"])
    try:
        holder = f"{claims.me().rsplit(':', 2)[0]}:{other.pid}:{claims._start_ticks(other.pid)}"
        with env.ctx.uow() as uow:  # as if that live process had claimed it
            uow.repo.s.exec(update(OutboundMessage).where(OutboundMessage.state == "sending")
                            .values(claimed_by=holder, claimed_at=env.clock()))
            uow.commit()
        ctx = env.reopen()
        report = await resume_unsent(ctx, OutboundOptions(**FAST))
        assert [who for who, _ in report.skipped] == [env.bidders[0][0]]
        assert env.count(env.bidders[0]) == 0  # not sent behind the other process's back
        assert [r.state for r in env.rows("invitation")] == ["sending"] + ["sent"] * 4
    finally:
        other.kill()
        other.wait()
    report = await resume_unsent(env.reopen(), OutboundOptions(**FAST))  # the holder is dead now
    assert report.sent == [env.bidders[0][0]] and report.skipped == []
    expected = {**{b: 1 for b in env.bidders}, env.tender: 5}
    assert env.wait_counts(expected) == expected


def test_only_one_of_two_concurrent_claims_wins(env: Env):
    """The claim is one conditional UPDATE: of two sessions racing for the same pending row, one wins."""
    import threading

    from hankebot.service.send_engine import claim as _claim
    from hankebot.storage.tables import utcnow

    with env.ctx.uow() as uow:
        p = uow.repo.procurement("302834")
        row = uow.repo.add(OutboundMessage(procurement_id=p.id, kind="invitation", batch="t", dedupe_key="race",
                                           message_id="<race@example.test>", recipient="x@example.test", subject="s",
                                           raw_sha256="0" * 64, raw_path="x"))
        uow.commit()
        rid = row.id
    barrier, wins = threading.Barrier(2), []

    def contender(ctx):
        with ctx.uow() as uow:
            barrier.wait()
            won = _claim(uow.repo, rid, utcnow())
            uow.commit()
            wins.append(won)

    ctxs = [env.ctx, env.reopen()]
    threads = [threading.Thread(target=contender, args=(c,)) for c in ctxs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(wins) == [False, True]
