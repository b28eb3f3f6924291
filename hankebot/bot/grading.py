"""Grading and decisions in Telegram (after the opening only).

/grade: a keyboard of bids ("gb:<bid>") -> graded criteria of the bid's part ("gc:<bid>:<crit>") -> levels
("g:<bid>:<crit>:<points>") -> the expert writes the justification -> service.evaluation.grade_bid.
/accept, /reject: "/accept <bid> <reason>", or a keyboard of undecided problem bids ("da:<bid>", "dr:<bid>")
then the reason as text -> service.evaluation.decide_bid.
<crit> is the criterion key, or "#<index>" when the key would make callback data longer than 64 bytes.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from telegram import Update
from telegram.ext import ContextTypes

from hankebot.bot.common import (
    MAX_CALLBACK,
    call_service,
    cb,
    get_ctx,
    grader_name,
    keyboard,
    pick_procurement,
    resolve_procurement,
    reply,
    sealed_info,
)
from hankebot.bot.texts import clip, esc
from hankebot.core.et_format import datetime_et
from hankebot.core.lifecycle import LifecycleError
from hankebot.core.scoring import format_number
from hankebot.service.config import CriterionSettings


def _sealed_reply(opens_at) -> str:
    return f"🔒 Pakkumused on suletud kuni {datetime_et(opens_at)}. Hinnata ja otsustada saab pärast avamist."


def _graded_criteria(ctx, key: str, part_no: int) -> list[CriterionSettings]:
    return [c for c in ctx.proc_settings(key).criteria_for(part_no) if c.kind == "graded"]


def crit_token(crits: list[CriterionSettings], key: str, bid_id: int) -> str:
    """The criterion as it goes into callback data: its key when short enough, else "#<index>"."""
    longest = max((len(format_number(lv.points)) for c in crits for lv in c.levels), default=3)
    if len(f"g:{bid_id}:{key}:".encode()) + longest <= MAX_CALLBACK and not key.startswith("#"):
        return key
    return f"#{[c.key for c in crits].index(key)}"


def crit_from_token(crits: list[CriterionSettings], token: str) -> CriterionSettings | None:
    if token.startswith("#"):
        try:
            return crits[int(token[1:])]
        except (ValueError, IndexError):
            return None
    return next((c for c in crits if c.key == token), None)


def _bid_info(ctx, bid_id: int):
    """(bid, procurement key, bidder name) or None."""
    with ctx.uow() as uow:
        bid = uow.repo.bid(bid_id)
        if bid is None:
            return None
        p = uow.repo.procurement_by_id(bid.procurement_id)
        b = uow.repo.bidder(bid.bidder_id)
        return bid, p.key, (b.name if b else bid.sender)


def _gradable_bids(ctx, key: str):
    with ctx.uow() as uow:
        p = uow.repo.procurement(key)
        bids = [b for b in uow.repo.bids(p.id) if not b.late and b.decision != "rejected"]
        names = {b.id: b.name for b in uow.repo.bidders(p.id, active_only=False)}
        grades = uow.repo.grades(b.id for b in bids)
    done: dict[int, set[str]] = {}
    for g in grades:
        done.setdefault(g.bid_id, set()).add(g.criterion_key)
    return [(b, names.get(b.bidder_id, b.sender), done.get(b.id, set())) for b in bids]


async def cmd_grade(update: Update, tg: ContextTypes.DEFAULT_TYPE, key: str | None = None,
                    args: list[str] | None = None) -> None:
    ctx = get_ctx(tg)
    key, args = await resolve_procurement(update, tg, "grade", key, args)
    if key is None:
        return
    sealed, opens = sealed_info(ctx, key)
    if sealed:
        await reply(update, tg, _sealed_reply(opens))
        return
    rows = []
    for bid, name, done in _gradable_bids(ctx, key):
        crits = _graded_criteria(ctx, key, bid.part_no)
        mark = "✅" if crits and all(c.key in done for c in crits) else f"{len(done)}/{len(crits)}"
        rows.append([(f"Osa {bid.part_no}: {clip(name, 40)} ({mark})", cb("gb", bid.id))])
    if not rows:
        await reply(update, tg, "Hinnatavaid pakkumusi pole.")
        return
    await reply(update, tg, f"✍️ <b>Hindamine · hange {esc(key)}</b>\nVali pakkumus:", keyboard(rows))


async def _show_criteria(update: Update, tg: ContextTypes.DEFAULT_TYPE, bid_id: int) -> None:
    ctx = get_ctx(tg)
    info = _bid_info(ctx, bid_id)
    if info is None:
        await reply(update, tg, "Sellist pakkumust pole.")
        return
    bid, key, name = info
    crits = _graded_criteria(ctx, key, bid.part_no)
    with ctx.uow() as uow:
        have = {g.criterion_key: g for g in uow.repo.grades([bid_id])}
    rows, lines = [], [f"<b>{esc(name)}</b> · osa {bid.part_no}", "Vali kriteerium:"]
    for c in crits:
        g = have.get(c.key)
        now = f" — praegu {format_number(g.points)} p" if g else ""
        lines.append(f"• {esc(c.name)} (max {format_number(c.weight)} p){now}")
        rows.append([(clip(c.name, 40) + (" ✅" if g else ""), cb("gc", bid_id, crit_token(crits, c.key, bid_id)))])
    if not crits:
        lines.append("Selle osa kriteeriumides pole eksperdi hinnatavaid.")
    await reply(update, tg, "\n".join(lines), keyboard(rows) if rows else None)


async def on_grade_callback(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    """Callbacks gb:/gc:/g: of the grading flow."""
    q = update.callback_query
    await q.answer()
    ctx = get_ctx(tg)
    parts = (q.data or "").split(":")
    try:
        bid_id = int(parts[1])
    except (IndexError, ValueError):
        return
    info = _bid_info(ctx, bid_id)
    if info is None:
        await reply(update, tg, "Sellist pakkumust pole.")
        return
    bid, key, name = info
    sealed, opens = sealed_info(ctx, key)
    if sealed:
        await reply(update, tg, _sealed_reply(opens))
        return
    if parts[0] == "gb":
        await _show_criteria(update, tg, bid_id)
        return
    crits = _graded_criteria(ctx, key, bid.part_no)
    crit = crit_from_token(crits, parts[2]) if len(parts) > 2 else None
    if crit is None:
        await reply(update, tg, "Sellist kriteeriumi selles osas pole.")
        return
    tok = crit_token(crits, crit.key, bid_id)
    if parts[0] == "gc":
        lines = [f"<b>{esc(name)}</b> · osa {bid.part_no}", f"<b>{esc(crit.name)}</b> — vali tase:"]
        rows = []
        for lv in crit.levels:
            pts = format_number(lv.points)
            lines.append(f"• <b>{pts} p — {esc(lv.name)}</b>" + (f": {esc(clip(lv.description, 400))}" if lv.description else ""))
            rows.append([(f"{pts} p — {clip(lv.name, 40)}", cb("g", bid_id, tok, pts.replace(",", ".")))])
        await reply(update, tg, "\n".join(lines), keyboard(rows))
        return
    try:
        points = Decimal(parts[3])
    except (IndexError, InvalidOperation):
        return
    level = next((lv for lv in crit.levels if lv.points == points), None)
    if level is None:
        await reply(update, tg, "Sellist taset pole.")
        return
    tg.user_data["awaiting"] = {"kind": "grade", "bid_id": bid_id, "criterion": crit.key,
                                "points": str(points), "level": level.name}
    await reply(update, tg, f"{esc(name)} · {esc(crit.name)}: <b>{format_number(points)} p ({esc(level.name)})</b>\n"
                            "Kirjuta hinde põhjendus (see läheb protokolli). Katkestamiseks /cancel.")


async def on_grade_text(update: Update, tg: ContextTypes.DEFAULT_TYPE, state: dict) -> None:
    """The justification: save the grade through service.evaluation.grade_bid."""
    ctx = get_ctx(tg)
    text = (update.effective_message.text or "").strip()
    if not text:
        await reply(update, tg, "Põhjendus on kohustuslik. Kirjuta see tekstina.")
        return
    from hankebot.service import evaluation

    try:
        g = await call_service(evaluation.grade_bid, ctx, state["bid_id"], state["criterion"],
                               Decimal(state["points"]), text, grader_name(ctx, update))
    except evaluation.Sealed as e:
        tg.user_data.pop("awaiting", None)
        await reply(update, tg, _sealed_reply(e.opens_at))
        return
    except (KeyError, ValueError, LifecycleError) as e:
        tg.user_data.pop("awaiting", None)
        await reply(update, tg, f"Hinnet ei salvestatud: {esc(e)}")
        return
    tg.user_data.pop("awaiting", None)
    info = _bid_info(ctx, state["bid_id"])
    name = info[2] if info else f"#{state['bid_id']}"
    await reply(update, tg, f"✅ Salvestatud: {esc(name)} · {esc(state['criterion'])} = "
                            f"<b>{format_number(g.points)} p</b> ({esc(g.level_name)})")
    await _show_criteria(update, tg, state["bid_id"])


# ---------------------------------------------------------------- accept / reject problem bids


async def _decide_start(update: Update, tg: ContextTypes.DEFAULT_TYPE, accept: bool) -> None:
    args = list(tg.args or [])
    cmd = "accept" if accept else "reject"
    if args and args[0].lstrip("#").isdigit():
        bid_id = int(args[0].lstrip("#"))
        reason = " ".join(args[1:]).strip()
        if reason:
            await _decide(update, tg, bid_id, accept, reason)
        else:
            await _ask_reason(update, tg, bid_id, accept)
        return
    key, _ = await pick_procurement(update, tg, cmd, args)
    if key is None:
        return
    await list_problem_bids(update, tg, key, accept)


async def list_problem_bids(update: Update, tg: ContextTypes.DEFAULT_TYPE, key: str, accept: bool) -> None:
    ctx = get_ctx(tg)
    sealed, opens = sealed_info(ctx, key)
    if sealed:
        await reply(update, tg, _sealed_reply(opens))
        return
    from hankebot.service import evaluation

    bids = await call_service(evaluation.undecided, ctx, key)
    if not bids:
        await reply(update, tg, "Otsust ootavaid probleemiga pakkumusi pole.")
        return
    lines = ["Otsust ootavad pakkumused:"]
    rows = []
    with ctx.uow() as uow:
        names = {b.id: b.name for b in uow.repo.bidders(uow.repo.procurement(key).id, active_only=False)}
    for b in bids:
        name = names.get(b.bidder_id, b.sender)
        probs = "; ".join(p.get("message", "") for p in evaluation.blocking_problems(b))
        lines.append(f"• #{b.id} {esc(name)} (osa {b.part_no}): {esc(clip(probs, 300))}")
        rows.append([(f"#{b.id} {clip(name, 30)}", cb("da" if accept else "dr", b.id))])
    lines.append("Vali pakkumus, siis kirjuta põhjendus.")
    await reply(update, tg, "\n".join(lines), keyboard(rows))


async def _ask_reason(update: Update, tg: ContextTypes.DEFAULT_TYPE, bid_id: int, accept: bool) -> None:
    ctx = get_ctx(tg)
    info = _bid_info(ctx, bid_id)
    if info is None:
        await reply(update, tg, "Sellist pakkumust pole.")
        return
    sealed, opens = sealed_info(ctx, info[1])
    if sealed:
        await reply(update, tg, _sealed_reply(opens))
        return
    tg.user_data["awaiting"] = {"kind": "decide", "bid_id": bid_id, "accept": accept}
    what = "vastu võtta" if accept else "tagasi lükata"
    await reply(update, tg, f"Pakkumus #{bid_id} ({esc(info[2])}): {what}.\nKirjuta põhjendus. Katkestamiseks /cancel.")


async def _decide(update: Update, tg: ContextTypes.DEFAULT_TYPE, bid_id: int, accept: bool, reason: str) -> None:
    ctx = get_ctx(tg)
    from hankebot.service import evaluation

    try:
        await call_service(evaluation.decide_bid, ctx, bid_id, accept, reason, grader_name(ctx, update))
    except evaluation.Sealed as e:
        await reply(update, tg, _sealed_reply(e.opens_at))
        return
    except (KeyError, ValueError, LifecycleError) as e:
        await reply(update, tg, f"Otsust ei salvestatud: {esc(e)}")
        return
    await reply(update, tg, f"✅ Pakkumus #{bid_id} " + ("võeti vastu." if accept else "lükati tagasi.")
                + f"\nPõhjendus: {esc(reason)}")


async def on_decide_text(update: Update, tg: ContextTypes.DEFAULT_TYPE, state: dict) -> None:
    text = (update.effective_message.text or "").strip()
    if not text:
        return
    tg.user_data.pop("awaiting", None)
    await _decide(update, tg, state["bid_id"], state["accept"], text)


async def cmd_accept(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    await _decide_start(update, tg, True)


async def cmd_reject(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    await _decide_start(update, tg, False)


async def on_decide_callback(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    q = update.callback_query
    await q.answer()
    kind, _, rest = (q.data or "").partition(":")
    if not rest.isdigit():
        return
    await _ask_reason(update, tg, int(rest), kind == "da")
