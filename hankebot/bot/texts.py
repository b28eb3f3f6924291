"""Estonian staff texts for Telegram (HTML parse mode), escaping and splitting.

Every builder is a pure function over plain values and returns Telegram HTML: names, subjects and other
outside text are escaped with `esc` (html.escape), tags are only ours and never span a line, so a text
can be split on line boundaries (`split_html`). No builder takes a price: what they describe may still
be sealed. The outbox stores domain events; bot/render.py turns each into one of these texts when the
outbox worker delivers it.
"""
from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Iterable, Sequence

from hankebot.core.et_format import datetime_et, duration_et

if TYPE_CHECKING:  # pragma: no cover
    from hankebot.service.status import ProcurementStatus

MAX_MESSAGE = 4096  # Telegram's limit for a message text
MAX_CAPTION = 1024
MAX_BUTTON = 38  # characters a button label shows whole on a phone
MAX_PARTS_AS_MESSAGES = 3  # longer texts go as a .txt document

REFUSAL = "Vabandust, see bot on ainult hankemeeskonnale."

_TAG = re.compile(r"<[^>]*>")


def esc(value: object) -> str:
    """Escape outside text for HTML parse mode (<, >, & and quotes)."""
    return html.escape("" if value is None else str(value), quote=True)


def strip_html(text: str) -> str:
    """Our HTML as plain text (for the console and .txt documents)."""
    return html.unescape(_TAG.sub("", text))


def split_html(text: str, limit: int = MAX_MESSAGE) -> list[str] | None:
    """Split on line boundaries into chunks of at most `limit` characters (counted on the HTML source,
    which is never shorter than what Telegram counts). None when a single line is longer than `limit`
    (splitting inside it could cut a tag or an entity): send such a text as a document."""
    if len(text) <= limit:
        return [text]
    chunks: list[str] = []
    cur = ""
    for line in text.split("\n"):
        if len(line) > limit:
            return None
        cand = line if not cur else cur + "\n" + line
        if len(cand) > limit:
            if cur.strip():
                chunks.append(cur)
            cur = line
        else:
            cur = cand
    if cur.strip():
        chunks.append(cur)
    return chunks


def _when(dt: datetime | None) -> str:
    return datetime_et(dt) if dt is not None else "—"


def _head(icon: str, title: str, proc_ref: str | None) -> str:
    ref = f" · hange {esc(proc_ref)}" if proc_ref else ""
    return f"{icon} <b>{esc(title)}</b>{ref}"


def _parts(parts: Iterable[int]) -> str:
    ps = sorted(set(parts))
    if not ps:
        return "—"
    return ", ".join(str(p) for p in ps)


def _bullets(items: Iterable[str], empty: str = "—") -> list[str]:
    out = [f"• {esc(x)}" for x in items]
    return out or [empty]


# ---------------------------------------------------------------- event notifications


def new_bid_text(proc_ref: str, bidder_name: str, parts: Sequence[int], received_at: datetime,
                 missing_forms: Sequence[str] = (), problems: Sequence[str] = (),
                 replaces_earlier: bool = False, signatures: Sequence[str] = ()) -> str:
    """A bid arrived (on time). `received_at` local time; `missing_forms` titles; `problems` messages;
    `signatures` one core.signatures.describe() line each (who signed and when is not sealed).
    Deliberately no price or form content: bids are sealed until the opening."""
    lines = [_head("📥", "Uus pakkumus", proc_ref),
             f"Pakkuja: <b>{esc(bidder_name)}</b>",
             f"Osa: {_parts(parts)}",
             f"Saabus: {_when(received_at)}"]
    if replaces_earlier:
        lines.append("See asendab sama pakkuja varasema pakkumuse.")
    if missing_forms:
        lines.append("⚠️ Puuduvad vormid:")
        lines += _bullets(missing_forms)
    else:
        lines.append("Kõik nõutud vormid on olemas.")
    if signatures:
        lines.append("✍️ Digiallkiri:")
        lines += _bullets(signatures)
    if problems:
        lines.append("⚠️ Probleemid:")
        lines += _bullets(problems)
    lines.append("Hind on avamiseni suletud.")
    return "\n".join(lines)


def decline_text(proc_ref: str, bidder_name: str, received_at: datetime, reason: str | None = None) -> str:
    """A bidder said they will not bid."""
    lines = [_head("🙅", "Pakkuja loobus", proc_ref),
             f"Pakkuja: <b>{esc(bidder_name)}</b>",
             f"Saabus: {_when(received_at)}"]
    if reason:
        lines.append(f"Põhjus: {esc(_clip(reason, 500))}")
    return "\n".join(lines)


def question_text(proc_ref: str, sender_name: str, received_at: datetime, subject: str | None,
                  excerpt: str | None, answer_by: datetime | None = None) -> str:
    """A bidder asked a question. Send with `question_payload(procurement_id)` for the "Vasta kõigile" button.
    `answer_by`: the last moment a clarification can still go out (local time), if known."""
    lines = [_head("❓", "Küsimus", proc_ref),
             f"Küsija: <b>{esc(sender_name)}</b>",
             f"Saabus: {_when(received_at)}"]
    if subject:
        lines.append(f"Teema: {esc(_clip(subject, 300))}")
    if excerpt:
        lines.append("")
        lines.append(f"<i>{esc(_clip(excerpt, 1500))}</i>")
    if answer_by is not None:
        lines.append("")
        lines.append(f"Selgitus tuleb saata kõigile hiljemalt {datetime_et(answer_by)}.")
    lines.append("Vastus läheb kõigile pakkujatele ühtemoodi (nupp allpool või /clarify).")
    return "\n".join(lines)


def question_payload(procurement_id: int, inbound_id: int | None = None) -> dict:
    """Notification payload with the inline button "Vasta kõigile" that starts the clarification flow;
    with `inbound_id` the clarification is linked to that question (answers_inbound_id)."""
    data = f"cl:{procurement_id}" + (f":{inbound_id}" if inbound_id is not None else "")
    return {"buttons": [[{"text": "Vasta kõigile", "data": data}]]}


def bounce_text(proc_ref: str, recipient: str, bidder_name: str | None, reason: str | None,
                what: str = "kutse") -> str:
    """A message to a bidder could not be delivered (`what`: "kutse", "meeldetuletus", "selgitus")."""
    lines = [_head("📭", "Kiri ei jõudnud kohale", proc_ref),
             f"Saaja: {esc(recipient)}" + (f" ({esc(bidder_name)})" if bidder_name else ""),
             f"Mis: {esc(what)}"]
    if reason:
        lines.append(f"Põhjus: {esc(_clip(reason, 500))}")
    lines.append("Kontrolli aadressi ja saada vajadusel uuesti.")
    return "\n".join(lines)


def late_bid_text(proc_ref: str, bidder_name: str, received_at: datetime, deadline: datetime) -> str:
    """A bid arrived after the deadline (times local)."""
    late_by = duration_et(received_at - deadline)
    return "\n".join([
        _head("⏰", "Hilinenud pakkumus", proc_ref),
        f"Pakkuja: <b>{esc(bidder_name)}</b>",
        f"Saabus: {_when(received_at)} (tähtaeg {_when(deadline)}, hilines {late_by})",
        "Hilinenud pakkumust ei hinnata; see on salvestatud.",
    ])


def unknown_sender_text(proc_ref: str | None, sender: str, subject: str | None, received_at: datetime,
                        kind: str | None = None) -> str:
    """Mail from an address that is not an invited bidder. `kind`: what it looked like ("pakkumus", ...)."""
    lines = [_head("❔", "Tundmatu saatja", proc_ref),
             f"Saatja: {esc(sender)}",
             f"Saabus: {_when(received_at)}"]
    if subject:
        lines.append(f"Teema: {esc(_clip(subject, 300))}")
    if kind:
        lines.append(f"Sisu paistab olevat: {esc(kind)}")
    lines.append("Kiri on salvestatud; kontrolli, kas saatja on mõne pakkuja esindaja.")
    return "\n".join(lines)


def problems_text(proc_ref: str, bidder_name: str, problems: Sequence[str], bid_id: int | None = None) -> str:
    """Problems found in a bid (messages as the readers wrote them)."""
    lines = [_head("⚠️", "Pakkumusel on probleeme", proc_ref), f"Pakkuja: <b>{esc(bidder_name)}</b>"]
    lines += _bullets(problems)
    if bid_id is not None:
        lines.append(f"Otsus pärast avamist: /accept {bid_id} või /reject {bid_id}")
    return "\n".join(lines)


DEADLINE_LABELS = {"3wd": "3 tööpäeva", "1d": "1 päeva", "2h": "2 tunni"}


def deadline_warning_text(status: "ProcurementStatus", label: str) -> str:
    """Before the deadline. `label`: a scheduler code ("3wd", "1d", "2h") or Estonian words ("3 tööpäeva").
    Counts and names only."""
    label = DEADLINE_LABELS.get(label, label)
    answered = [b for b in status.bidders if b.answer == "bid"]
    lines = [_head("⏳", f"Tähtaeg {label} pärast", status.reference),
             f"{esc(status.title)}",
             f"Tähtaeg: {_when(status.deadline)} (jäänud {duration_et(status.time_left)})",
             f"Pakkumusi: {status.bids} · loobunud: {status.declines} · vaikivad: {len(status.silent)}"]
    if status.silent:
        lines.append("Pole vastanud:")
        lines += _bullets(b.name for b in status.silent)
    incomplete = [b for b in answered if b.missing_forms]
    if incomplete:
        lines.append("Puudulikud pakkumused:")
        lines += [f"• {esc(b.name)}: puudub {esc(', '.join(b.missing_forms))}" for b in incomplete]
    if status.silent:
        lines.append("Meeldetuletuse saab saata: /remind")
    return "\n".join(lines)


def deadline_passed_text(status: "ProcurementStatus") -> str:
    """The deadline passed: who bid, who declined, who was silent, what is missing."""
    by = {a: [b for b in status.bidders if b.answer == a] for a in ("bid", "declined", "silent", "question", "bounced")}
    lines = [_head("🔔", "Tähtaeg on möödas", status.reference), esc(status.title),
             f"Tähtaeg: {_when(status.deadline)}",
             f"Pakkumusi: {status.bids}" + (f" (lisaks hilinenud: {status.late_bids})" if status.late_bids else "")]
    lines.append("Pakkumuse esitasid:")
    lines += [f"• {esc(b.name)} (osa {_parts(b.bid_parts)})"
              + (f" — puudub {esc(', '.join(b.missing_forms))}" if b.missing_forms else "")
              for b in by["bid"]] or ["—"]
    if by["declined"]:
        lines.append("Loobusid:")
        lines += _bullets(b.name for b in by["declined"])
    quiet = by["silent"] + by["question"]
    if quiet:
        lines.append("Ei vastanud:")
        lines += _bullets(b.name for b in quiet)
    if by["bounced"]:
        lines.append("Kutse ei jõudnud kohale:")
        lines += _bullets(b.name for b in by["bounced"])
    if status.problems:
        lines.append(f"Otsust ootavaid probleeme: {status.problems} (/accept, /reject)")
    if status.sealed:
        lines.append("Pakkumused avanevad pärast avamisviivitust.")
    else:
        lines.append("Pakkumused on avatud: /bids, hindamine /grade.")
    return "\n".join(lines)


def results_ready_text(proc_ref: str, title: str, parts_ranked: int, parts_total: int,
                       winners: Sequence[tuple[int, str]] = ()) -> str:
    """Evaluation results are ready (after the opening). `winners`: (part number, bidder name)."""
    lines = [_head("🏁", "Hindamise tulemused on valmis", proc_ref), esc(title),
             f"Järjestatud osi: {parts_ranked}/{parts_total}"]
    for part, name in winners:
        lines.append(f"• Osa {part}: {esc(name)}")
    lines.append("Vaata /results, protokoll: /protocol")
    return "\n".join(lines)


# ---------------------------------------------------------------- small helpers used by handlers


def _clip(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def clip(text: str, n: int) -> str:
    """Collapse whitespace and cut to `n` characters with an ellipsis (before escaping)."""
    return _clip(text, n)


def time_left_et(delta: timedelta) -> str:
    return duration_et(delta)
