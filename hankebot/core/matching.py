"""Which invited bidder sent a message, which procurement it answers, which parts (lots) it names. Pure."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from hankebot.core.classify import strip_quoted
from hankebot.core.problems import Problem

FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "hot.ee", "mail.ee", "outlook.com", "hotmail.com", "live.com", "msn.com",
    "yahoo.com", "icloud.com", "me.com", "online.ee", "neti.ee", "zone.ee", "gmx.com", "gmx.de", "proton.me",
    "protonmail.com", "inbox.lv", "mail.ru", "yandex.ru", "hotmail.ee", "live.ee", "yahoo.co.uk", "aol.com",
})


@dataclass(frozen=True)
class BidderMatch:
    bidder_key: str | None
    how: str  # "address" | "domain" | "unknown"
    problem: Problem | None = None


@lru_cache(maxsize=4096)  # the invited bidders' addresses are normalised for every message
def normalize_address(addr: str) -> str:
    """Lower-cased, brackets and spaces dropped, "+tag" removed from the local part
    (anna+hange@firma.ee is anna@firma.ee: plus-addressing is tolerated)."""
    addr = (addr or "").strip().strip("<>").strip().lower()
    if "@" not in addr:
        return addr
    local, _, domain = addr.rpartition("@")
    local = local.split("+", 1)[0] if not local.startswith("+") else local
    return f"{local}@{domain.rstrip('.')}"


def _domain(addr: str) -> str:
    return addr.rpartition("@")[2] if "@" in addr else ""


def match_bidder(sender: str, invited: Sequence[tuple[str, str]]) -> BidderMatch:
    """`invited` is (bidder_key, address) pairs; a bidder may appear with several addresses.

    Exact address (case-insensitive, +tag ignored) -> "address"; same non-free-mail domain as exactly one
    invited bidder -> "domain" with problem not_invited_address; else "unknown" with unknown_sender."""
    norm = normalize_address(sender)
    for key, addr in invited:
        if normalize_address(addr) == norm and norm:
            return BidderMatch(key, "address")
    domain = _domain(norm)
    if domain and domain not in FREE_MAIL_DOMAINS:
        keys = sorted({key for key, addr in invited if _domain(normalize_address(addr)) == domain})
        if len(keys) == 1:
            return BidderMatch(keys[0], "domain", Problem(
                "not_invited_address",
                f"Kiri tuli aadressilt {norm}, mida pakkumuskutse ei saanud, kuid domeen {domain} kuulub "
                f"kutsutud pakkujale. Kontrolli, kas saatja esindab seda pakkujat."))
        if len(keys) > 1:
            return BidderMatch(None, "unknown", Problem(
                "unknown_sender",
                f"Kiri tuli aadressilt {norm}; domeen {domain} on mitmel kutsutud pakkujal, "
                f"seega ei saa saatjat kindlalt määrata."))
    return BidderMatch(None, "unknown", Problem(
        "unknown_sender", f"Kiri tuli aadressilt {norm or '(puudub)'}, mis ei kuulu ühelegi kutsutud pakkujale."))


def _norm_id(mid: str | None) -> str:
    return (mid or "").strip().strip("<>").strip()


def _norm_text(text: str) -> str:
    text = re.sub(r"[„“”\"«»'‘’]", " ", text or "").casefold()
    return " ".join(re.sub(r"[^\w\s-]", " ", text).split())


def _search_procurements(where: str, procurements: Sequence[tuple[str, str, str]]) -> str | None:
    by_ref = {key for key, ref, _ in procurements
              if ref and re.search(rf"(?<!\d){re.escape(str(ref).strip())}(?!\d)", where)}
    if len(by_ref) == 1:
        return by_ref.pop()
    if len(by_ref) > 1:
        return None
    norm = _norm_text(where)
    by_title = {key for key, _, title in procurements if _norm_text(title) and _norm_text(title) in norm}
    if len(by_title) > 1:  # prefer the longest title when one contains another
        longest = max(by_title, key=lambda k: len(next(t for kk, _, t in procurements if kk == k)))
        return longest
    return by_title.pop() if by_title else None


@dataclass(frozen=True)
class ProcurementEvidence:
    """What a message is compared against, for one procurement. `window_start`: when its invitations went
    out (None: not known, no lower bound); `window_end`: deadline plus the grace period."""
    key: str
    reference: str
    title: str
    invited: tuple[str, ...] = ()
    window_start: datetime | None = None
    window_end: datetime | None = None


@dataclass(frozen=True)
class Assignment:
    key: str | None
    how: str  # thread | reference | title | forms | other_reference | before_invitations | none
    reasons: list[str] = field(default_factory=list)


# INTERNALDATE has whole seconds and the mail server's clock may differ from ours a little
CLOCK_SLACK = timedelta(minutes=5)

# "hange 301777", "riigihanke viitenumber 301777", "Ref. 301777", "procurement no 301777"
_REF_WORD = r"(?:han[gk]\w*|riigihan[gk]\w*|viit\w*|ref\w*|procurement|tender|menetlus\w*)"


def _ref_shape(ref: str) -> str | None:
    """A regex for references shaped like `ref` (digits stand for any digit): 302834 -> \\d{6}."""
    ref = (ref or "").strip()
    if not ref or not any(c.isdigit() for c in ref):
        return None
    out, i = [], 0
    while i < len(ref):
        if ref[i].isdigit():
            j = i
            while j < len(ref) and ref[j].isdigit():
                j += 1
            out.append(rf"\d{{{j - i}}}")
            i = j
        else:
            out.append(re.escape(ref[i]))
            i += 1
    return "".join(out)


def foreign_references(where: str, procurements: Sequence[ProcurementEvidence]) -> list[str]:
    """References shaped like ours and introduced as one ("hange 301777") that name no configured procurement."""
    ours = {str(p.reference).strip() for p in procurements}
    shapes = {sh for sh in (_ref_shape(p.reference) for p in procurements) if sh}
    found: list[str] = []
    for shape in shapes:
        pattern = re.compile(rf"\b{_REF_WORD}\s*(?:nr\.?|number|no\.?|:|#)?\s*(?<![\w/-])({shape})(?![\w/])",
                             re.IGNORECASE)
        for m in pattern.finditer(where or ""):
            if m.group(1) not in ours and m.group(1) not in found:
                found.append(m.group(1))
    return found


def assign_procurement(in_reply_to: str | None, references: Sequence[str], subject: str, own_text: str,
                       sender: str, received_at: datetime | None, invitations: Mapping[str, str],
                       procurements: Sequence[ProcurementEvidence],
                       forms_from: Mapping[str, bool] | None = None, quoted_text: str = "") -> Assignment:
    """The procurement a message belongs to, only on evidence, in this order:
    1. a reply in our thread (In-Reply-To/References to a stored Message-ID of ours);
    2. the procurement's reference number or title in the subject or the sender's own words;
    then a message naming another procurement's reference (in those) is not ours; then our reference or
    title in the quoted text (`quoted_text`: a forward or reply of our invitation without thread headers);
    3. forms of this procurement's templates (`forms_from[key]`) from an invited address, received inside
       the window (invitations sent -> deadline + grace).
    Mail received before a procurement's invitations went out is never its bid, question or decline:
    such a match is dropped ("before_invitations"). A single configured procurement is no evidence."""
    by_key = {p.key: p for p in procurements}

    def in_window(p: ProcurementEvidence) -> bool:
        return received_at is None or p.window_start is None or received_at >= p.window_start - CLOCK_SLACK

    by_id = {_norm_id(mid): key for mid, key in invitations.items()}
    for mid in [in_reply_to, *reversed(list(references or []))]:
        key = by_id.get(_norm_id(mid))
        if key is not None and _norm_id(mid):
            return Assignment(key, "thread", [f"reply to our message {_norm_id(mid)[:80]}"])
    triples = [(p.key, p.reference, p.title) for p in procurements]
    for label, where in (("subject", subject or ""), ("text", own_text or ""), ("quoted text", quoted_text or "")):
        key = _search_procurements(where, triples)
        if key is not None:
            p = by_key[key]
            how = "reference" if p.reference and re.search(
                rf"(?<!\d){re.escape(str(p.reference).strip())}(?!\d)", where) else "title"
            if not in_window(p):
                return Assignment(None, "before_invitations", [f"{how} of {key} in {label}, but received "
                                                               f"before its invitations went out"])
            return Assignment(key, how, [f"{how} of {key} in {label}"])
        foreign = foreign_references(where, procurements) if label != "quoted text" else []
        if foreign:
            return Assignment(None, "other_reference", [f"{label} names another procurement: {', '.join(foreign[:3])}"])
    norm = normalize_address(sender)
    hits = []
    for p in procurements:
        if not (forms_from or {}).get(p.key):
            continue
        invited = {normalize_address(a) for a in p.invited}
        if norm not in invited:
            continue
        if not in_window(p):
            continue
        if received_at is not None and p.window_end is not None and received_at > p.window_end:
            continue
        hits.append(p.key)
    if len(hits) == 1:
        return Assignment(hits[0], "forms", [f"forms of {hits[0]}'s templates from an invited address"])
    if len(hits) > 1:
        return Assignment(None, "none", [f"forms fit several procurements: {hits}"])
    return Assignment(None, "none", ["no thread, reference, title or forms of a procurement"])


_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6, "vii": 7, "viii": 8, "ix": 9, "x": 10,
          "xi": 11, "xii": 12, "xiii": 13, "xiv": 14, "xv": 15}
_NUM = r"(?:\d{1,2}|[ivx]{1,4})"
_LIST = rf"{_NUM}\.?(?:\s*(?:,|ja|and|&|/|-|–|kuni|to)\s*{_NUM}\.?)*"
_PART_BEFORE = re.compile(rf"\b(?:osa|osad|osale|osadele|osas|osades|osa nr|part|parts|lot|lots|module|modules|"
                          rf"moodul|moodulid|mooduli|moodulile|moodulitele)(?![^\W\d_])\s*(?:nr\.?|no\.?)?\s*({_LIST})(?![\w])",
                          re.IGNORECASE)
_PART_AFTER = re.compile(rf"(?<![\w.])({_LIST})\s*(?:\.\s*)?(?:moodul\w*|osa(?:le|s|de|dele)?)\b", re.IGNORECASE)


def _numbers(chunk: str) -> list[int]:
    out: list[int] = []
    tokens = re.findall(rf"{_NUM}|-|–|kuni|to", chunk, re.IGNORECASE)
    prev = None
    range_next = False
    for tok in tokens:
        low = tok.lower()
        if low in ("-", "–", "kuni", "to"):
            range_next = prev is not None
            continue
        value = int(low) if low.isdigit() else _ROMAN.get(low)
        if value is None or not 1 <= value <= 20:
            range_next = False
            continue
        if range_next and prev is not None and prev < value <= prev + 20:
            out.extend(range(prev + 1, value + 1))
        else:
            out.append(value)
        prev, range_next = value, False
    return out


def detect_parts(text: str, subject: str = "") -> list[int]:
    """Part (lot/module) numbers a message names: "OSA 2", "osa II", "II moodul", "2. moodul", "module 2",
    "osadele 2 ja 3", "osad 1-3". Quoted reply text is ignored. Sorted, unique."""
    found: set[int] = set()
    for where in (subject or "", strip_quoted(text or "")):
        for match in _PART_BEFORE.finditer(where):
            found.update(_numbers(match.group(1)))
        for match in _PART_AFTER.finditer(where):
            found.update(_numbers(match.group(1)))
    return sorted(found)
