"""The last act against the REAL mail server: decision per part, one decision letter per bidder (the
successful one with the contract draft, the others with points, rank and the winner, the rejected one
with the reason, the late one with no price), resumable after a kill -9, and the cancellation letter."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path

import docx
import pytest

from hankebot.service.decision import DecisionError, cancel_procurement, decide_part, preview_decision
from hankebot.service.decision import decide_bid
from hankebot.service.decision_letters import send_cancellation_letters, send_decision_letters
from hankebot.service.evaluation import grade_bid, results
from hankebot.service.invitations import send_invitations
from hankebot.service.send_engine import OutboundOptions
from hankebot.service.send_resume import resume_unsent
from hankebot.storage.tables import Bid
from tests.helpers import add_bid, get_state, set_state
from tests.test_outbound import FAST, REPO, Env, mail, parsed, user_pool  # noqa: F401

pytestmark = [pytest.mark.mailserver, pytest.mark.timeout(180)]

JUST = "Põhjendus: materjalid ja meetodid on kirjeldatud"
CONTRACT = "Lisa 4 Raamlepingu projekt.docx"
LATE_PRICE = "987,65"


@pytest.fixture
def env(mail, user_pool, tmp_path, monkeypatch) -> Env:
    def contract(data: dict) -> None:  # the contract draft next to the forms (check-config looks for it)
        data["procurement"][0]["contract_form"] = CONTRACT
        fdir = tmp_path / "forms" / "302834"
        fdir.mkdir(parents=True, exist_ok=True)
        d = docx.Document()
        d.add_paragraph("RAAMLEPINGU PROJEKT – koolitusteenuse osutamine")
        d.save(fdir / CONTRACT)

    return Env(mail, user_pool, tmp_path, monkeypatch, edit=contract)


async def _invite(env: Env) -> None:
    rep = await send_invitations(env.ctx, "302834", opts=OutboundOptions(**FAST))
    assert rep.ok and len(rep.sent) == 5, rep.format()
    env.wait_counts({u: 1 for u in env.bidders})


def _evaluate(env: Env) -> dict[str, int]:
    """b1 1000 (15+15), b2 1200 (30+30), b3 1500 (30+15) ranked; b4 rejected; b5 late (never opened)."""
    ctx = env.ctx
    with ctx.uow() as uow:
        deadline = uow.repo.procurement("302834").deadline
    env.clock.set(deadline + timedelta(hours=2))
    set_state(ctx, "closed")
    ids = {k: add_bid(ctx, k, price=p, received_at=deadline - timedelta(hours=h))
           for k, p, h in (("b1", "1000", 5), ("b2", "1200", 4), ("b3", "1500", 3))}
    ids["b4"] = add_bid(ctx, "b4", price="1100", received_at=deadline - timedelta(hours=2),
                        problems=[{"code": "missing_form", "message": "Lisa 2 puudub"}])
    ids["b5"] = add_bid(ctx, "b5", price=LATE_PRICE.replace(",", "."), received_at=deadline + timedelta(minutes=30),
                        problems=[{"code": "late_bid", "message": "hilinenud"}])
    with ctx.uow() as uow:
        b = uow.repo.s.get(Bid, ids["b5"])
        b.late = True
        uow.repo.s.add(b)
        uow.commit()
    for k, (m, t) in {"b1": (15, 15), "b2": (30, 30), "b3": (30, 15)}.items():
        grade_bid(ctx, ids[k], "materials", D(m), JUST, "expert")
        grade_bid(ctx, ids[k], "methods", D(t), JUST, "expert")
    decide_bid(ctx, ids["b4"], False, "Pakkumuse vorm (Lisa 2) puudub, pakkumus ei vasta tingimustele", "expert")
    decide_bid(ctx, ids["b5"], False, "Hilinenud pakkumus", "expert")
    assert get_state(ctx) == "evaluated"
    return ids


def _letters(env: Env, user) -> list:
    return [m for m in map(parsed, env.raws(user)) if not str(m["Subject"]).startswith("Pakkumuskutse")]


def _body(m) -> str:
    return m.get_body(preferencelist=("plain",)).get_content()


def _check_letters(env: Env) -> None:
    b1, b2, b3, b4, b5 = env.bidders
    got = {}
    for u in env.bidders:
        letters = _letters(env, u)
        assert len(letters) == 1, (u[0], [str(m["Subject"]) for m in letters])
        m = letters[0]
        assert [str(a) for a in m["To"].addresses] == [str(m["To"].addresses[0])] and m["To"].addresses[0].addr_spec == u[0]
        raw = m.as_string()
        for other in env.bidders:  # no other bidder's address anywhere
            if other != u:
                assert other[0] not in raw
        assert LATE_PRICE not in raw and "987.65" not in raw
        got[u] = m
    win = got[b2]
    assert str(win["Subject"]).startswith("Teie pakkumus on edukas")
    body = _body(win)
    assert "tunnistatud edukaks" in body and "94,67 punkti 100-st" in body and "1. kohal" in body
    assert "Edasised sammud" in body and CONTRACT in body
    atts = [a.get_filename() for a in win.iter_attachments()]
    assert atts == [CONTRACT]
    for u, pts, rank in ((b3, "71,67", 2), (b1, "70,00", 3)):
        body = _body(got[u])
        assert str(got[u]["Subject"]).startswith("Hanke tulemus")
        assert f"sai {pts} punkti 100-st ja oli pingereas {rank}. kohal (3 hinnatud pakkumuse seas)" in body
        assert "Edukaks tunnistati pakkuja Mari Õunapuu 2 pakkumus, mis sai 94,67 punkti" in body
        assert "Punktid arvutati nii:" in body and "Ühe koolitusgrupi maksumus (osakaal 40)" in body
        assert not list(got[u].iter_attachments())
    assert "40 − (1200,00 − 1000,00) / 1500,00 × 40 = 34,67" not in _body(got[b1])  # b1's own computation only
    assert "= 40" in _body(got[b1]) or "40,00 p" in _body(got[b1])
    body = _body(got[b4])
    assert "lükati tagasi" in body and "Pakkumuse vorm (Lisa 2) puudub, pakkumus ei vasta tingimustele" in body
    assert "punkti" not in body
    body = _body(got[b5])
    assert "pärast pakkumuste esitamise tähtaega" in body and "ei avatud" in body and "punkti" not in body


async def test_decision_then_one_letter_per_bidder_with_the_right_content(env: Env, tmp_path: Path):
    await _invite(env)
    ids = _evaluate(env)
    ctx = env.ctx
    # the late bid's price is in no result
    (late,) = [b for r in results(ctx, "302834") for b in r.excluded if b.bid_id == str(ids["b5"])]
    assert late.price is None and late.problems == ["Laekus pärast tähtaega, avamata"]
    with pytest.raises(DecisionError, match="põhjendust"):
        decide_part(ctx, "302834", 2, ids["b3"], None, actor="expert")
    prev = preview_decision(ctx, "302834")
    assert "Osa 2: edukas pakkumus – Mari Õunapuu 2, 94,67 punkti (pingereas esimene)" in prev.format_et()
    dry = await send_decision_letters(ctx, "302834", dry_run=True, out_dir=tmp_path / "dry")
    assert dry.errors and "alles pärast otsust" in dry.errors[0].message
    (row,) = decide_part(ctx, "302834", actor="telegram:5001")
    assert row.bid_id == ids["b2"] and row.top_ranked and row.decided_by == "telegram:5001"
    assert get_state(ctx) == "decided"
    with ctx.uow() as uow:
        (a,) = uow.repo.audit_rows(uow.repo.procurement("302834").id, "part_decided")
        assert a.actor == "telegram:5001" and a.details["bid_id"] == ids["b2"]

    dry = await send_decision_letters(ctx, "302834", dry_run=True, out_dir=tmp_path / "dry")
    assert len(dry.eml_paths) == 5 and not dry.sent
    assert env.wait_counts({u: 1 for u in env.bidders}, timeout=1) == {u: 1 for u in env.bidders}

    rep = await send_decision_letters(ctx, "302834", opts=OutboundOptions(**FAST))
    assert rep.ok and len(rep.sent) == 5, rep.format()
    again = await send_decision_letters(ctx, "302834", opts=OutboundOptions(**FAST))
    assert not again.sent and len(again.already_sent) == 5
    env.wait_counts({u: 2 for u in env.bidders})
    _check_letters(env)


async def test_another_bid_than_the_top_needs_a_reason_which_the_letters_carry(env: Env):
    await _invite(env)
    ids = _evaluate(env)
    (row,) = decide_part(env.ctx, "302834", 2, ids["b3"], "Esimene pakkuja loobus lepingu sõlmimisest", actor="expert")
    assert not row.top_ranked and row.reason.startswith("Esimene")
    rep = await send_decision_letters(env.ctx, "302834", opts=OutboundOptions(**FAST))
    assert rep.ok, rep.format()
    env.wait_counts({u: 2 for u in env.bidders})
    b1, b2, b3, b4, b5 = env.bidders
    (w,) = _letters(env, b3)
    assert "tunnistatud edukaks" in _body(w) and "Esimene pakkuja loobus lepingu sõlmimisest" in _body(w)
    (l2,) = _letters(env, b2)
    assert "Edukaks tunnistati pakkuja Pakkuja 3 OÜ pakkumus, mis sai 71,67 punkti" in _body(l2)
    assert "sai 94,67 punkti 100-st ja oli pingereas 1. kohal" in _body(l2)


KILLER = textwrap.dedent("""
    import asyncio, os, signal, sys
    from hankebot.mailer import smtp_sender
    from hankebot.service.config import load_config
    from hankebot.service.context import open_context
    from hankebot.service.send_engine import OutboundOptions
    from hankebot.service.decision_letters import send_decision_letters
    from datetime import datetime, timezone
    now = datetime.fromisoformat(sys.argv[2])
    ctx = open_context(load_config(sys.argv[1]), clock=lambda: now)
    n = {"sent": 0}
    async def send(raw, sender, rcpts, smtp, password):
        reply = await smtp_sender.send(raw, sender, rcpts, smtp, password)
        n["sent"] += 1
        if n["sent"] == int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)  # after the server took it, before we recorded 'sent'
        return reply
    asyncio.run(send_decision_letters(ctx, "302834", opts=OutboundOptions(send_fn=send)))
""")


async def test_kill_9_in_the_middle_of_the_batch_still_one_letter_each(env: Env):
    await _invite(env)
    _evaluate(env)
    decide_part(env.ctx, "302834", actor="expert")
    proc = subprocess.run([sys.executable, "-c", KILLER, str(env.config_path), env.clock().isoformat(), "2"],
                          cwd=env.config_path.parent, env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    states = sorted(r.state for r in env.rows("decision"))
    assert states == ["pending", "pending", "pending", "sending", "sent"], states
    ctx = env.reopen()
    res = await resume_unsent(ctx, OutboundOptions(**FAST))  # what the service does at start
    assert len(res.confirmed) == 1 and len(res.sent) == 3, res.format()
    again = await send_decision_letters(ctx, "302834", opts=OutboundOptions(**FAST))
    assert not again.sent and len(again.already_sent) == 5
    env.wait_counts({u: 2 for u in env.bidders})
    _check_letters(env)


async def test_cancellation_reaches_every_invitee(env: Env, tmp_path: Path):
    await _invite(env)
    ctx = env.ctx
    add_bid(ctx, "b1", price="1000")
    dry = await send_cancellation_letters(ctx, "302834", dry_run=True, out_dir=tmp_path / "c",
                                          preview_reason="Eelarve vähenes")
    assert len(dry.eml_paths) == 5 and get_state(ctx) == "open"
    with pytest.raises(DecisionError, match="põhjendus"):
        cancel_procurement(ctx, "302834", "  ", actor="expert")
    cancel_procurement(ctx, "302834", "Eelarve vähenes, hankija ei saa teenust tellida", actor="expert")
    assert get_state(ctx) == "cancelled"
    rep = await send_cancellation_letters(ctx, "302834", opts=OutboundOptions(**FAST))
    assert rep.ok and len(rep.sent) == 5, rep.format()
    env.wait_counts({u: 2 for u in env.bidders})
    for i, u in enumerate(env.bidders):
        (m,) = _letters(env, u)
        assert str(m["Subject"]).startswith("Hange tühistatud")
        body = _body(m)
        assert "Põhjus: Eelarve vähenes, hankija ei saa teenust tellida" in body
        assert ("Teie esitatud pakkumust ei hinnata" in body) == (i == 0)
        assert m["To"].addresses[0].addr_spec == u[0]
    with pytest.raises(DecisionError):
        decide_part(ctx, "302834", actor="expert")


def _register(env: Env, out: Path) -> tuple[list[list], list[list]]:
    import csv

    from openpyxl import load_workbook

    from hankebot.service.register import write_register

    xlsx, csv_path = write_register(env.ctx, "302834", out)
    ws = load_workbook(xlsx).active
    xrows = [[c.value for c in r] for r in ws.iter_rows(min_row=2)]
    with csv_path.open(encoding="utf-8-sig", newline="") as f:
        crows = list(csv.reader(f, delimiter=";"))
    assert xrows == crows  # the same register in both formats
    return xrows[0], xrows[1:]


async def test_letters_register_row_by_row(env: Env, tmp_path: Path):
    await _invite(env)
    _evaluate(env)
    head, rows = _register(env, tmp_path / "r1")
    assert head == ["Viit", "Registreeritud", "Liik", "Suund", "Adressaat / saatja", "Pealkiri", "Dokumendi liik",
                    "Juurdepääsupiirang"]
    who = ["Pakkuja 1 OÜ", "M. Õ.", "Pakkuja 3 OÜ", "M. Õ.", "Pakkuja 5 OÜ"]  # natural persons by initials
    title = "Pakkumuskutse: Kõrge abivajadusega ja riskikäitumisega laste ja noortega töötavate spetsialistide baaskoolitused (viitenumber 302834)"
    expected = [[f"302834/{i}", "05.01.2026 kell 10.00", "Kiri VÄLJA", "VÄLJA", who[i - 1], title, "Pakkumuskutse", "Avalik"]
                for i in range(1, 6)]
    bid_times = ["19.01.2026 kell 10.00", "19.01.2026 kell 11.00", "19.01.2026 kell 12.00", "19.01.2026 kell 13.00",
                 "19.01.2026 kell 15.30"]
    expected += [[f"302834/{5 + i}", bid_times[i - 1], "Kiri SISSE", "SISSE", who[i - 1], "(teemata)", "Pakkumus",
                  "AK – pakkumus (kuni otsuseni)"] for i in range(1, 6)]
    assert rows == expected
    decide_part(env.ctx, "302834", actor="expert")
    rep = await send_decision_letters(env.ctx, "302834", opts=OutboundOptions(**FAST))
    assert rep.ok
    _, rows = _register(env, tmp_path / "r2")
    assert len(rows) == 15
    assert [r[7] for r in rows[5:10]] == ["Avalik"] * 5  # bids are public after the decision
    for i, r in enumerate(rows[10:], 1):
        assert r[:5] == [f"302834/{10 + i}", "19.01.2026 kell 17.00", "Kiri VÄLJA", "VÄLJA", who[i - 1]]
        assert r[6:] == ["Otsuse teade", "Avalik"]
        assert r[5].startswith("Teie pakkumus on edukas" if i == 2 else "Hanke tulemus")


async def test_protocol_has_what_the_agency_signs(env: Env, tmp_path: Path):
    from openpyxl import load_workbook
    from pypdf import PdfReader

    from hankebot.service.report import write_report
    from hankebot.storage.tables import InboundMessage

    await _invite(env)
    ctx = env.ctx
    with ctx.uow() as uow:
        deadline = uow.repo.procurement("302834").deadline
    env.clock.set(deadline + timedelta(hours=2))
    set_state(ctx, "closed")
    a = add_bid(ctx, "b1", price="1000", received_at=deadline - timedelta(hours=5))
    b = add_bid(ctx, "b2", price="1200", received_at=deadline - timedelta(hours=4))
    c = add_bid(ctx, "b3", price="1500", received_at=deadline - timedelta(hours=3),
                problems=[{"code": "missing_form", "message": "Lisa 2 pakkumuse vorm puudub"}])
    late = add_bid(ctx, "b5", price=LATE_PRICE.replace(",", "."), received_at=deadline + timedelta(minutes=30))
    with ctx.uow() as uow:
        repo = uow.repo
        pid = repo.procurement("302834").id
        lb = repo.s.get(Bid, late)
        lb.late = True
        repo.s.add(lb)
        b4 = next(x for x in repo.bidders(pid) if x.key == "b4")
        repo.add(InboundMessage(folder="INBOX", uidvalidity=1, uid=990001, sha256="d" * 64, raw_path="x/d.eml",
                                received_at=deadline - timedelta(days=3), state="processed", kind="decline",
                                procurement_id=pid, bidder_id=b4.id, sender=b4.email, subject="Loobun"))
        uow.commit()
    decide_bid(ctx, c, True, "Lisa 2 saadeti tähtajaks eraldi kirjaga", "Kätlin Põder")
    decide_bid(ctx, late, False, "Hilinenud pakkumus", "Kätlin Põder")
    for k, (m, t) in {a: (15, 15), b: (30, 30), c: (30, 15)}.items():
        grade_bid(ctx, k, "materials", D(m), JUST, "Mari Maasikas")
        grade_bid(ctx, k, "methods", D(t), JUST, "Mari Maasikas")
    decide_part(ctx, "302834", actor="Kätlin Põder")
    files = write_report(ctx, "302834", tmp_path / "prot")

    ws = load_workbook(files.xlsx)["Osalejad ja otsused"]
    cells = [[c.value for c in r] for r in ws.iter_rows()]
    col_a = [r[0] for r in cells]
    i = col_a.index("Kutsutud pakkujad")
    assert cells[i + 1][:6] == ["Pakkuja", "Kutse saadetud", "Vastus", "Vastuse aeg", "Pakkumus laekus", "Hinna alus"]
    part = {r[0]: r[:6] for r in cells[i + 2:i + 7]}
    assert part["Pakkuja 1 OÜ"] == ["Pakkuja 1 OÜ", "05.01.2026 10.00", "esitas pakkumuse",
                                    "—", "osa 2: 19.01.2026 10.00", "osa 2: maksumus koos käibemaksuga"]
    assert part["Mari Õunapuu 4"][2:4] == ["loobus", "16.01.2026 15.00"]
    assert part["Pakkuja 5 OÜ"][4:] == ["osa 2: 19.01.2026 15.30 (hilinenud, avamata)", "osa 2: hilinenud, avamata"]
    j = col_a.index("Probleemsete pakkumuste otsused")
    verdicts = {r[0]: r[:7] for r in cells[j + 2:j + 4]}
    assert verdicts["Pakkuja 3 OÜ"][2:6] == ["Lisa 2 pakkumuse vorm puudub", "vastu võetud",
                                             "Lisa 2 saadeti tähtajaks eraldi kirjaga", "Kätlin Põder"]
    assert verdicts["Pakkuja 5 OÜ"][3] == "tagasi lükatud"
    k = col_a.index("Edukad pakkumused")
    assert cells[k + 1][0].startswith("Osa 2: edukaks tunnistati pakkuja Mari Õunapuu 2 pakkumus (94,67 punkti, "
                                      "pingereas esimene). Otsustas Kätlin Põder 19.01.2026 17.00.")
    assert "Erapooletuse kinnitus" in col_a
    s = col_a.index("Allkirjad")
    expert = ctx.proc_settings("302834").expert_name
    assert [r[:4] for r in cells[s + 1:s + 4]] == [["Nimi", "Roll", "Allkiri", "Kuupäev"],
                                                   [expert, "hindaja", None, None],
                                                   ["Mari Maasikas", "hindaja", None, None]]
    every = " ".join(str(v) for wsx in load_workbook(files.xlsx).worksheets for r in wsx.iter_rows() for v in
                     (c.value for c in r) if v is not None)
    assert "987" not in every  # the late bid's price nowhere

    reader = PdfReader(str(files.pdf))
    first = reader.pages[0].extract_text()
    assert "Edukad pakkumused" in first and "Mari Õunapuu 2" in first and "Kutsutud pakkujad" in first
    text = " ".join(pg.extract_text() for pg in reader.pages)
    assert "987" not in text and "hilinenud, avamata" in text
    assert "Erapooletuse kinnitus ja allkirjad" in text and "erapooletult" in text
    assert "Lisa 2 saadeti tähtajaks eraldi kirjaga" in text and "maksumus koos käibemaksuga" in text
