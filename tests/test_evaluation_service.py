"""The evaluation service on a real database: sealed before the opening, the seed price formula over
stored bids, grade validation, problem bids held out until the expert decides, the evaluated state
with its staff notice, and the protocol files."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from hankebot.service.decision import decide_bid
from hankebot.service.evaluation import Sealed, grade_bid, refresh_state, results, undecided
from hankebot.service.report import write_report
from tests.helpers import PROC_KEY, TALLINN, Clock, add_bid, get_state, make_ctx, set_state

DEADLINE = datetime(2026, 1, 19, 15, 0, tzinfo=TALLINN)
BEFORE = DEADLINE - timedelta(hours=2)
AFTER = DEADLINE + timedelta(hours=1)
JUST = "Materjalid on põhjalikud ja viidatud; meetodid sobivad täiskasvanukoolitusse."


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return None  # the config's SQLite file in tmp_path
    return request.getfixturevalue("pg_url")


@pytest.fixture
def clock():
    return Clock(AFTER)


@pytest.fixture
def ctx(tmp_path, clock):
    c = make_ctx(tmp_path, clock=clock)
    set_state(c, "closed")
    yield c
    c.engine.dispose()


def _part(ctx, n: int = 2):
    return next(r for r in results(ctx, PROC_KEY) if r.part_no == n)


def _price_points(scored) -> D:
    return scored.score_for("price").points


def _grade_all(ctx, bid_id: int, materials: int, methods: int) -> None:
    grade_bid(ctx, bid_id, "materials", D(materials), JUST, "expert")
    grade_bid(ctx, bid_id, "methods", D(methods), JUST, "expert")


def _notes(ctx, kind: str):
    from helpers import with_text

    with ctx.uow() as uow:
        out = uow.repo.notifications(kind=kind)
        for n in out:
            uow.repo.s.expunge(n)
    return with_text(ctx, out)


def test_full_evaluation_on_real_database(tmp_path, db_url, clock):
    ctx = make_ctx(tmp_path, clock=clock, database_url=db_url)
    set_state(ctx, "closed")
    a = add_bid(ctx, "koolituskeskus", price="1200", received_at=DEADLINE - timedelta(hours=5))
    b = add_bid(ctx, "tugiteenused", price="1000", received_at=DEADLINE - timedelta(hours=4))
    c = add_bid(ctx, "lastekaitse", price="1500", received_at=DEADLINE - timedelta(hours=3))

    part = _part(ctx)
    assert part.part_no == 2 and part.ranked == [] and len(part.pending) == 3
    pts = {s.bid.bidder_key: _price_points(s) for s in part.pending}
    # seed: 40 − (price − 1000) / 1500 × 40
    assert pts == {"tugiteenused": D("40.00"), "koolituskeskus": D("34.67"), "lastekaitse": D("26.67")}
    assert "40 − (1200,00 − 1000,00) / 1500,00 × 40 = 34,67" in part.pending[0].score_for("price").explanation

    _grade_all(ctx, a, 30, 30)
    _grade_all(ctx, b, 15, 15)
    assert get_state(ctx) == "closed"  # lastekaitse still ungraded
    grade_bid(ctx, c, "materials", D(30), JUST, "expert")
    assert not refresh_state(ctx, PROC_KEY)
    grade_bid(ctx, c, "methods", D(15), JUST, "expert")  # the last grade completes the evaluation

    assert get_state(ctx) == "evaluated"
    part = _part(ctx)
    assert [(s.bid.bidder_key, s.total, s.rank) for s in part.ranked] == [
        ("koolituskeskus", D("94.67"), 1),
        ("lastekaitse", D("71.67"), 2),
        ("tugiteenused", D("70.00"), 3),
    ]
    (note,) = _notes(ctx, "results_ready")
    assert "Arengu Koolituskeskus OÜ" in note.text and "94,67" in note.text
    assert refresh_state(ctx, PROC_KEY)  # stays evaluated, no second notice
    assert len(_notes(ctx, "results_ready")) == 1
    ctx.engine.dispose()


def test_sealed_before_the_deadline(ctx, clock):
    bid = add_bid(ctx, "koolituskeskus", price="1200")
    set_state(ctx, "open")
    clock.set(BEFORE)
    with pytest.raises(Sealed) as ei:
        results(ctx, PROC_KEY)
    assert ei.value.opens_at == DEADLINE
    with pytest.raises(Sealed):
        grade_bid(ctx, bid, "materials", D(30), JUST, "expert")
    with pytest.raises(Sealed):
        decide_bid(ctx, bid, True, "sobib", "expert")
    with pytest.raises(Sealed):
        write_report(ctx, PROC_KEY, ctx.cfg.data_dir / "p")
    assert not refresh_state(ctx, PROC_KEY)
    with ctx.uow() as uow:
        assert uow.repo.grades([bid]) == []
        assert uow.repo.bid(bid).decision == "none"
    clock.set(DEADLINE - timedelta(microseconds=1))
    with pytest.raises(Sealed):
        results(ctx, PROC_KEY)
    clock.set(DEADLINE)
    assert len(_part(ctx).pending) == 1


def test_opening_delay_keeps_bids_sealed(tmp_path):
    clock = Clock(DEADLINE + timedelta(minutes=10))
    ctx = make_ctx(tmp_path, clock=clock, opening_delay_minutes=30)
    set_state(ctx, "closed")
    bid = add_bid(ctx, "koolituskeskus", price="1200")
    with pytest.raises(Sealed) as ei:
        grade_bid(ctx, bid, "materials", D(30), JUST, "expert")
    assert ei.value.opens_at == DEADLINE + timedelta(minutes=30)
    assert ei.value.opens_at.tzinfo is not None
    clock.set(DEADLINE + timedelta(minutes=30))
    grade_bid(ctx, bid, "materials", D(30), JUST, "expert")


def test_grade_validation(ctx):
    bid = add_bid(ctx, "koolituskeskus", price="1200")
    with pytest.raises(ValueError, match="ei vasta ühelegi"):
        grade_bid(ctx, bid, "materials", D(20), JUST, "expert")
    with pytest.raises(ValueError, match="põhjendus"):
        grade_bid(ctx, bid, "materials", D(30), "   ", "expert")
    with pytest.raises(ValueError, match="põhjendus"):
        grade_bid(ctx, bid, "materials", D(30), "", "expert")
    with pytest.raises(ValueError, match="ei ole hindaja hinnatav"):
        grade_bid(ctx, bid, "price", D(30), JUST, "expert")
    with pytest.raises(KeyError):
        grade_bid(ctx, bid, "quality", D(30), JUST, "expert")
    with pytest.raises(KeyError):
        grade_bid(ctx, 99999, "materials", D(30), JUST, "expert")
    with ctx.uow() as uow:
        assert uow.repo.grades([bid]) == []
    g = grade_bid(ctx, bid, "materials", D("15.0"), f"  {JUST}  ", "expert")
    assert g.points == D(15) and g.level_name == "vastab osaliselt" and g.justification == JUST
    g = grade_bid(ctx, bid, "materials", D(5), "Ümbertehtud: materjalid puudulikud.", "expert2")  # a regrade replaces
    with ctx.uow() as uow:
        (stored,) = uow.repo.grades([bid])
        assert (str(stored.points), stored.graded_by) == ("5", "expert2")
        (first, second) = uow.repo.audit_rows(action="graded")
        assert second.details["previous"] == ["15", JUST]


def test_problem_bids_wait_for_a_decision(ctx):
    a = add_bid(ctx, "koolituskeskus", price="1200")
    b = add_bid(ctx, "tugiteenused", price="1000")
    late = add_bid(ctx, "lastekaitse", price="900",
                   problems=[{"code": "missing_form", "message": "Puudub Lisa 2 pakkumuse vorm"},
                             {"code": "signature_unverified", "message": "Allkiri kontrollimata"}])
    soft = add_bid(ctx, "kadri", price="1300", problems=[{"code": "signature_unverified", "message": "Allkiri kontrollimata"}])
    for x in (a, b, late, soft):
        _grade_all(ctx, x, 30, 30)

    part = _part(ctx)
    assert [x.bidder_key for x in part.excluded] == ["lastekaitse"]
    assert part.excluded[0].exclusion_reason == "Ootab eksperdi otsust: Puudub Lisa 2 pakkumuse vorm"
    assert {s.bid.bidder_key for s in part.ranked} == {"koolituskeskus", "tugiteenused", "kadri"}  # a soft problem does not hold a bid
    # the excluded 900 does not set the lowest price: 1000 does
    assert {s.bid.bidder_key: _price_points(s) for s in part.ranked}["tugiteenused"] == D("40.00")
    assert [x.id for x in undecided(ctx, PROC_KEY)] == [late]
    assert get_state(ctx) == "closed"  # everything graded, but a decision is missing

    with pytest.raises(ValueError, match="põhjendus"):
        decide_bid(ctx, late, True, " ", "expert")
    decide_bid(ctx, late, True, "Lisa 2 saadeti tähtajaks eraldi kirjaga", "expert")
    assert get_state(ctx) == "evaluated"
    part = _part(ctx)
    assert part.excluded == []
    pts = {s.bid.bidder_key: _price_points(s) for s in part.ranked}
    # now 900 is the lowest, 1300 the highest: 40 − (1000 − 900) / 1300 × 40 = 36.92
    assert pts == {"lastekaitse": D("40.00"), "tugiteenused": D("36.92"), "koolituskeskus": D("30.77"), "kadri": D("27.69")}
    assert part.ranked[0].bid.bidder_key == "lastekaitse"

    decide_bid(ctx, late, False, "Pakkumus ei vasta tingimustele", "expert")  # changed mind: back to closed, then evaluated
    part = _part(ctx)
    assert [(x.bidder_key, x.exclusion_reason) for x in part.excluded] == [
        ("lastekaitse", "Tagasi lükatud: Pakkumus ei vasta tingimustele")]
    assert get_state(ctx) == "evaluated"
    with ctx.uow() as uow:
        assert [r.action for r in uow.repo.audit_rows(action="bid_accepted")] == ["bid_accepted"]
        assert len(uow.repo.audit_rows(action="bid_rejected")) == 1


def test_regrade_after_results_reopens_and_renotifies(ctx):
    a = add_bid(ctx, "koolituskeskus", price="1200")
    b = add_bid(ctx, "tugiteenused", price="1000")
    _grade_all(ctx, a, 30, 30)
    _grade_all(ctx, b, 15, 15)
    assert get_state(ctx) == "evaluated"
    first = _part(ctx).ranked[0].bid.bidder_key
    assert first == "koolituskeskus"
    grade_bid(ctx, a, "materials", D(5), "Ülevaatusel selgus: materjalid ei toeta õpiväljundeid.", "expert")
    assert get_state(ctx) == "evaluated"  # re-evaluated at once: still complete
    ranked = _part(ctx).ranked
    assert ranked[0].bid.bidder_key == "tugiteenused"  # 40 + 30 = 70 vs 34.67 + 5 + 30 = 69.67
    notes = _notes(ctx, "results_ready")
    assert len(notes) == 2, "the changed result must be announced again"
    assert "Tugiteenused MTÜ" in notes[-1].text


def test_no_bids_is_not_evaluated(ctx):
    assert not refresh_state(ctx, PROC_KEY)
    assert get_state(ctx) == "closed"
    part = _part(ctx)
    assert part.ranked == part.pending == part.excluded == []


def test_write_report(ctx, tmp_path):
    a = add_bid(ctx, "koolituskeskus", price="1200")
    b = add_bid(ctx, "kadri", price="1000")
    _grade_all(ctx, a, 30, 15)
    _grade_all(ctx, b, 15, 5)
    files = write_report(ctx, PROC_KEY, tmp_path / "out", actor="cli")
    for f in (files.xlsx, files.pdf, files.chart_png):
        assert f.is_file() and f.stat().st_size > 0 and f.parent == tmp_path / "out"
    assert files.chart_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the protocol holds prices and grades: readable by the service's user only
    assert {f.stat().st_mode & 0o777 for f in (files.xlsx, files.pdf, files.chart_png)} == {0o600}
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o700
    wb = load_workbook(files.xlsx)
    assert "Kokkuvõte" in wb.sheetnames and "Osa 2" in wb.sheetnames
    ws = wb["Osa 2"]
    assert ws["B7"].value == "Arengu Koolituskeskus OÜ"
    text = "".join(page.extract_text() for page in PdfReader(files.pdf).pages)
    assert "Kadri Jõgi" in text and "302834" in text
    with ctx.uow() as uow:
        (row,) = uow.repo.audit_rows(action="protocol_written")
        assert row.details["pdf"] == str(files.pdf)
    default = write_report(ctx, PROC_KEY)
    assert default.xlsx.parent == ctx.cfg.data_dir / "protocols" / PROC_KEY


@pytest.mark.parametrize("final", ["decided", "cancelled"])
def test_final_procurement_is_frozen(ctx, final):
    bid = add_bid(ctx, "koolituskeskus", price="1200", problems=[{"code": "missing_form", "message": "Puudub Lisa 2"}])
    grade_bid(ctx, bid, "materials", D(30), JUST, "expert")
    set_state(ctx, final)
    word = {"decided": "otsustatud", "cancelled": "tühistatud"}[final]
    with pytest.raises(ValueError, match=f"302834 on {word}"):
        grade_bid(ctx, bid, "materials", D(5), JUST, "expert")
    with pytest.raises(ValueError, match=word):
        decide_bid(ctx, bid, True, "sobib", "expert")
    with ctx.uow() as uow:
        (g,) = uow.repo.grades([bid])
        assert g.points == D(30)
        assert uow.repo.bid(bid).decision == "none"
    assert len(_part(ctx).excluded) == 1  # results stay readable
