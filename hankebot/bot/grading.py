"""Grading on the bid card (after the opening only).

/grade [N] or /bid N or a bid button of /bids ("gb:<bid>") sends the bid card (bot/card.py) with the level
buttons of its first ungraded criterion ("g:<bid>:<crit>:<points>"). A level tap edits the card to ask for
the justification; the typed justification is saved (service.evaluation.grade_bid) and the same card is edited
to the next ungraded criterion; when the bid is done its card loses the level buttons and the next bid's card
follows. "gc:<bid>:<crit>" offers a criterion's levels again (another level, or a re-grade); "ga:<bid>" sends
the bid's original files. Undecided problem bids get the accept/reject buttons instead of levels.
<crit> is the criterion key, or "#<index>" when the key would make callback data longer than 64 bytes.
"""
from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation

from telegram import InputFile, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from hankebot.bot.bid_list import do_bids
from hankebot.bot.card import CardData, CardSealed, card_text, load_card, texts_block
from hankebot.bot.common import (
    MAX_CALLBACK,
    call_service,
    cb,
    get_ctx,
    grader_name,
    keyboard,
    pick_procurement,
    reply,
    resolve_procurement,
    sealed_info,
)
from hankebot.bot.persistence import save_now
from hankebot.bot.errors import et_error
from hankebot.bot.texts import MAX_BUTTON, MAX_CAPTION, clip, esc
from hankebot.core.et_format import datetime_et
from hankebot.core.lifecycle import LifecycleError
from hankebot.core.scoring import format_number

log = logging.getLogger(__name__)

MAX_UPLOAD = 50 * 1024 * 1024
INLINE_TEXTS = 2600  # bidder texts longer than this go before the card (split or as a file)


def sealed_reply(opens_at) -> str:
    return f"🔒 Pakkumused on suletud kuni {datetime_et(opens_at)}. Pakkumuse kaart, hindamine ja otsused on " \
           "võimalikud pärast avamist."


def unknown_bid(bid_id: int | str) -> str:
    return f"Pakkumust #{esc(bid_id)} pole. Pakkumuste nimekiri: /bids"


def crit_token(crits, key: str, bid_id: int) -> str:
    """The criterion as it goes into callback data: its key when short enough, else "#<index>"."""
    longest = max((len(format_number(lv.points)) for c in crits for lv in c.levels), default=3)
    if len(f"g:{bid_id}:{key}:".encode()) + longest <= MAX_CALLBACK and not key.startswith("#"):
        return key
    return f"#{[c.key for c in crits].index(key)}"


def crit_from_token(crits, token: str):
    if token.startswith("#"):
        try:
            return crits[int(token[1:])]
        except (ValueError, IndexError):
            return None
    return next((c for c in crits if c.key == token), None)


def level_label(points, name: str) -> str:
    """A level button: "15 p — vastab osaliselt", or only the points when the name would not fit."""
    full = f"{format_number(points)} p — {name}"
    return full if len(full) <= MAX_BUTTON else f"{format_number(points)} p"


def texts_inline(d: CardData) -> bool:
    """Whether the bidder's texts fit on the card itself (else they are sent before it)."""
    return len("\n".join(texts_block(d))) <= INLINE_TEXTS


def _clip_justifications(d: CardData) -> CardData:
    for c in d.criteria:
        if c.justification:
            c.justification = clip(c.justification, 300)
    return d


def card_markup(d: CardData, current: str | None, pending: dict | None, edit_buttons: bool = False):
    files = [("📎 Algsed failid", cb("ga", d.bid_id))]
    tok = lambda key: crit_token(d.criteria, key, d.bid_id)  # noqa: E731
    rows: list[list[tuple[str, str]]] = []
    if d.late and d.decision == "none":
        rows.append([("⛔ Lükka tagasi", cb("dr", d.bid_id))])  # a late bid is never graded
    elif not d.gradable and d.blocking and d.decision == "none":
        rows.append([("✅ Võta vastu", cb("da", d.bid_id)), ("⛔ Lükka tagasi", cb("dr", d.bid_id))])
    elif pending:
        rows.append([("↩️ Vali teine tase", cb("gc", d.bid_id, tok(pending["criterion"])))])
    elif current and d.gradable:
        c = d.crit(current)
        for lv in c.levels:
            pts = format_number(lv.points)
            rows.append([(level_label(lv.points, lv.name), cb("g", d.bid_id, tok(c.key), pts.replace(",", ".")))])
    elif edit_buttons and d.gradable:
        for i, c in enumerate(d.criteria, 1):
            rows.append([(f"✏️ Muuda hinnet {i}", cb("gc", d.bid_id, tok(c.key)))])
    rows.append(files)
    return keyboard(rows)


def render(d: CardData, current: str | None, pending: dict | None = None, edit_buttons: bool = False):
    d = _clip_justifications(d)
    if not d.gradable:
        current = None
    return card_text(d, current, pending, with_texts=texts_inline(d)), card_markup(d, current, pending, edit_buttons)


def _load(ctx, bid_id: int) -> CardData | None:
    return load_card(ctx, bid_id)


async def _load_or_answer(update: Update, tg: ContextTypes.DEFAULT_TYPE, bid_id: int) -> CardData | None:
    """The bid's card, or None after telling the expert why not (sealed, or no such bid)."""
    ctx = get_ctx(tg)
    try:
        d = _load(ctx, bid_id)
    except CardSealed:
        await reply(update, tg, sealed_reply(sealed_info_of_bid(ctx, bid_id)))
        return None
    if d is None:
        await reply(update, tg, unknown_bid(bid_id))
    return d


async def send_card(update: Update, tg: ContextTypes.DEFAULT_TYPE, bid_id: int, current: str | None = None) -> None:
    """Send a bid's card as new message(s): long bidder texts first (split or a file), then the card."""
    d = await _load_or_answer(update, tg, bid_id)
    if d is None:
        return
    ungraded = d.ungraded()
    if current is None and ungraded:
        current = ungraded[0].key
    if not texts_inline(d):
        head = f"📄 <b>{esc(d.bidder)}</b> · pakkumus #{d.bid_id} · pakkuja tekstid"
        await reply(update, tg, "\n".join([head, *texts_block(d)]))
    text, markup = render(d, current, None, edit_buttons=not ungraded)
    await reply(update, tg, text, markup)


def sealed_info_of_bid(ctx, bid_id: int):
    with ctx.uow() as uow:
        key = uow.repo.procurement_by_id(uow.repo.bid(bid_id).procurement_id).key
    return sealed_info(ctx, key)[1]


async def edit_card(tg: ContextTypes.DEFAULT_TYPE, chat_id: int, message_id: int, text: str, markup) -> bool:
    """Edit the card in place; False when it cannot be edited (deleted, too old), so the caller sends anew."""
    try:
        await tg.bot.edit_message_text(text, chat_id=chat_id, message_id=message_id, reply_markup=markup)
        return True
    except BadRequest as e:
        if "not modified" in str(e).lower():
            return True
        log.info("bid card %s not edited: %s", message_id, e)
        return False


def _order_key(bid):
    return (bid.part_no, bid.received_at, bid.id)


def next_bid(ctx, proc_key: str, after: int | None = None) -> int | None:
    """The next bid (after `after` in part/arrival order, wrapping) that is gradable and not fully graded."""
    with ctx.uow() as uow:
        p = uow.repo.procurement(proc_key)
        bids = sorted(uow.repo.bids(p.id), key=_order_key)
        ids = [b.id for b in bids]
    if after in ids:
        i = ids.index(after)
        ids = ids[i + 1:] + ids[:i]
    for bid_id in ids:
        d = _load(ctx, bid_id)
        if d is not None and d.gradable and d.ungraded():
            return bid_id
    return None


def _waiting_decision(ctx, proc_key: str) -> int:
    from hankebot.service import evaluation

    return len(evaluation.undecided(ctx, proc_key))


async def cmd_grade(update: Update, tg: ContextTypes.DEFAULT_TYPE, key: str | None = None,
                    args: list[str] | None = None) -> None:
    """/grade: the first bid still to grade; /grade N: bid N's card."""
    ctx = get_ctx(tg)
    key, args = await resolve_procurement(update, tg, "grade", key, args)
    if key is None:
        return
    sealed, opens = sealed_info(ctx, key)
    if sealed:
        await reply(update, tg, sealed_reply(opens))
        return
    if args:
        await open_bid_arg(update, tg, args[0])
        return
    bid_id = next_bid(ctx, key)
    if bid_id is not None:
        await send_card(update, tg, bid_id)
        return
    await reply(update, tg, _all_done_text(ctx, key))


def _all_done_text(ctx, key: str) -> str:
    waiting = _waiting_decision(ctx, key)
    text = "✅ Kõik hinnatavad pakkumused on hinnatud. Tulemused: /results · hinde muutmiseks /bid &lt;number&gt;"
    if waiting:
        text += f"\n⛔ Otsust ootab {waiting} probleemiga pakkumus(t): /accept või /reject"
    return text


async def open_bid_arg(update: Update, tg: ContextTypes.DEFAULT_TYPE, arg: str) -> None:
    token = arg.lstrip("#")
    if not token.isdigit():
        await reply(update, tg, f"„{esc(arg)}“ pole pakkumuse number. Näiteks: /bid 3 (numbrid on /bids nimekirjas).")
        return
    await send_card(update, tg, int(token))


async def cmd_bid(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    """/bid N: the bid card; without a number, the list of /bids."""
    args = list(tg.args or [])
    if args:
        await open_bid_arg(update, tg, args[-1])
        return
    key, _ = await pick_procurement(update, tg, "bids", [])
    if key is not None:
        await do_bids(update, tg, key, [])


async def on_grade_callback(update: Update, tg: ContextTypes.DEFAULT_TYPE) -> None:
    """Callbacks gb:/gc:/g:/ga: of the card."""
    q = update.callback_query
    await q.answer()
    parts = (q.data or "").split(":")
    try:
        bid_id = int(parts[1])
    except (IndexError, ValueError):
        return
    d = await _load_or_answer(update, tg, bid_id)
    if d is None:
        return
    if parts[0] == "gb":
        await send_card(update, tg, bid_id)
        return
    if parts[0] == "ga":
        await send_files(update, tg, bid_id)
        return
    crit = crit_from_token(d.criteria, parts[2]) if len(parts) > 2 else None
    if crit is None:
        await reply(update, tg, "Sellist kriteeriumi selle pakkumuse osas pole.")
        return
    if not d.gradable:
        await reply(update, tg, "Seda pakkumust ei saa praegu hinnata (otsus puudub või pakkumus on tagasi lükatud).")
        return
    chat = update.effective_chat.id
    mid = q.message.message_id if q.message is not None else None  # None: too old for Telegram to show
    if parts[0] == "gc":
        if (tg.user_data.get("awaiting") or {}).get("bid_id") == bid_id:
            tg.user_data.pop("awaiting", None)
        text, markup = render(d, crit.key)
        if not (mid and await edit_card(tg, chat, mid, text, markup)):
            await reply(update, tg, text, markup)
        return
    try:
        points = Decimal(parts[3])
    except (IndexError, InvalidOperation):
        return
    level = next((lv for lv in crit.levels if lv.points == points), None)
    if level is None:
        await reply(update, tg, "Sellist taset selle kriteeriumi juures pole.")
        return
    pending = {"kind": "grade", "bid_id": bid_id, "criterion": crit.key, "points": str(points),
               "level": level.name, "chat": chat, "card": mid}
    tg.user_data["awaiting"] = pending
    await save_now(update, tg)  # a restart while she types keeps the grade waiting for its justification
    text, markup = render(d, None, pending)
    if not (mid and await edit_card(tg, chat, mid, text, markup)):
        await reply(update, tg, text, markup)


async def on_grade_text(update: Update, tg: ContextTypes.DEFAULT_TYPE, state: dict) -> None:
    """The justification: save the grade, then edit the card on to the next criterion (or the next bid)."""
    ctx = get_ctx(tg)
    text = (update.effective_message.text or "").strip()
    if not text:
        await reply(update, tg, "Põhjendus on kohustuslik. Kirjuta see tekstina.")
        return
    from hankebot.service import evaluation

    bid_id = state["bid_id"]
    try:
        await call_service(evaluation.grade_bid, ctx, bid_id, state["criterion"], Decimal(state["points"]), text,
                           grader_name(ctx, update))
    except evaluation.Sealed as e:
        tg.user_data.pop("awaiting", None)
        await reply(update, tg, sealed_reply(e.opens_at))
        return
    except KeyError:
        tg.user_data.pop("awaiting", None)
        await reply(update, tg, "Hinnet ei salvestatud: pakkumus on asendatud või seda pole enam. Vaata /bids.")
        return
    except (ValueError, LifecycleError) as e:
        tg.user_data.pop("awaiting", None)
        await reply(update, tg, f"Hinnet ei salvestatud: {et_error(e)}")
        return
    tg.user_data.pop("awaiting", None)
    d = _load(ctx, bid_id)
    ungraded = d.ungraded()
    chat, mid = state.get("chat"), state.get("card")
    if ungraded:
        text_, markup = render(d, ungraded[0].key)
        if not (chat and mid and await edit_card(tg, chat, mid, text_, markup)):
            await reply(update, tg, text_, markup)
        return
    text_, markup = render(d, None)
    if not (chat and mid and await edit_card(tg, chat, mid, text_, markup)):
        await reply(update, tg, text_, markup)
    with ctx.uow() as uow:
        key = uow.repo.procurement_by_id(uow.repo.bid(bid_id).procurement_id).key
    nxt = next_bid(ctx, key, after=bid_id)
    if nxt is not None:
        await send_card(update, tg, nxt)
    else:
        await reply(update, tg, _all_done_text(ctx, key))


async def send_files(update: Update, tg: ContextTypes.DEFAULT_TYPE, bid_id: int) -> None:
    """The bid's original attachments from the raw store, each as a document."""
    ctx = get_ctx(tg)
    from hankebot.service.bid_files import BidSealed, bid_files

    try:
        files = await call_service(bid_files, ctx, bid_id)
    except KeyError:
        await reply(update, tg, unknown_bid(bid_id))
        return
    except BidSealed as e:
        await reply(update, tg, sealed_reply(e.opens_at))
        return
    except OSError:
        await reply(update, tg, f"Pakkumuse #{bid_id} algset kirja pole enam hoidlas (kustutatud või puudu).")
        return
    if not files:
        await reply(update, tg, f"Pakkumuse #{bid_id} kirjas polnud manuseid.")
        return
    chat = update.effective_chat.id
    await tg.bot.send_chat_action(chat, "upload_document")
    for f in files:
        if len(f.data) > MAX_UPLOAD:
            await reply(update, tg, f"Fail {esc(f.filename)} on Telegrami jaoks liiga suur (üle 50 MB); vaata postkastist.")
            continue
        caption = esc(clip(f"Pakkumus #{bid_id}: {f.path}", MAX_CAPTION // 6))
        try:
            await tg.bot.send_document(chat, InputFile(f.data, filename=f.filename), caption=caption)
        except TelegramError as e:
            log.warning("file %s of bid %s not sent: %s", f.filename, bid_id, e)
            await reply(update, tg, f"Faili {esc(f.filename)} ei saanud saata; vaata postkastist.")
