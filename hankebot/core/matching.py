"""Which invited bidder sent a message, which procurement it answers, which parts (lots) it names. Pure."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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


def match_procurement(in_reply_to: str | None, references: Sequence[str], subject: str, text: str,
                      invitations: Mapping[str, str], procurements: Sequence[tuple[str, str, str]]) -> str | None:
    """The procurement key a message answers: by In-Reply-To/References to a stored invitation
    Message-ID, else a reference number or title in the subject, else in the body. None if unknown
    or ambiguous. `procurements` is (key, reference_number, title) triples."""
    by_id = {_norm_id(mid): key for mid, key in invitations.items()}
    for mid in [in_reply_to, *reversed(list(references or []))]:
        key = by_id.get(_norm_id(mid))
        if key is not None and _norm_id(mid):
            return key
    for where in (subject or "", text or ""):
        found = _search_procurements(where, procurements)
        if found is not None:
            return found
    return None


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
