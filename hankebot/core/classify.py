"""What kind of message a bidder (or a machine) sent: bid, decline, question, auto-reply, bounce, other.

Pure: plain data in, a Classification out. Estonian and English phrasing. Quoted reply text (the
invitation itself, quoted below a reply) is stripped before phrase matching, and conditional
sentences ("Juhul, kui Te ei soovi ... esitada") never count as a decline.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from hankebot.core.models import MessageKind


@dataclass(frozen=True)
class MessageFacts:
    subject: str = ""
    text: str = ""
    from_addr: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names: auto-submitted, precedence, ...
    has_bounce: bool = False
    bounce_permanent: bool = True  # False for a delay notice (4.x.x): not a failure
    attachment_names: tuple[str, ...] = ()
    has_form_attachments: bool = False
    # context from the procurement assignment (service/extract): the message is in our thread or names
    # the procurement; its sender is an invited address; its attachments exist but none can be read
    about_procurement: bool = False
    from_invited: bool = False
    unreadable_attachments: bool = False


@dataclass(frozen=True)
class Classification:
    kind: MessageKind
    reasons: list[str]  # English, for logs and staff: which rule fired


# --- quoted text ------------------------------------------------------------------------------

_QUOTE_START = re.compile(
    r"^\s*(?:"
    r"-{2,}\s*(?:original message|forwarded message|algne sõnum|originaalsõnum|edastatud sõnum|"
    r"ursprüngliche nachricht|weitergeleitete nachricht)\s*-{0,}"
    r"|_{5,}"
    r"|on\b.{0,200}\bwrote:\s*"
    r"|.{0,200}\bkirjutas\b.{0,200}:\s*"
    r"|kirjutas\b.{0,200}"
    r"|am\b.{0,200}\bschrieb\b.{0,200}:\s*"
    r"|(?:from|saatja|kellelt|von)\s*:\s+.+"
    r")$",
    re.IGNORECASE,
)
_SIGNATURE_SEP = re.compile(r"^--\s?$")


def strip_quoted(text: str) -> str:
    """The sender's own words: drops "> " lines and everything from the first quote header
    ("... kirjutas:", "On ... wrote:", "-----Original Message-----", "From:"/"Saatja:" blocks)
    or the "-- " signature separator on."""
    kept: list[str] = []
    for line in (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.lstrip().startswith(">"):
            continue
        if kept and (_QUOTE_START.match(line) or _SIGNATURE_SEP.match(line)):
            break
        if not kept and _QUOTE_START.match(line) and not line.strip().lower().startswith(("on ", "kirjutas")):
            break
        kept.append(line)
    return "\n".join(kept).strip()


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|\n\s*\n|\n(?=\s*[-•*])", text)
    return [" ".join(p.split()) for p in parts if p.strip()]


# --- rules ------------------------------------------------------------------------------------

_AUTO_SUBJECT = re.compile(
    r"^\s*(?:automaatne vastus|automaatvastus|automatic reply|auto(?:matic)?[- ]?reply|autoreply|"
    r"out of (?:the )?office|abwesenheitsnotiz|automatische antwort|kontorist väljas|puhkusel)\b"
    r"|\b(?:out of office|abwesenheitsnotiz|automaatne vastus|automatic reply|autosvar|olen puhkusel)\b",
    re.IGNORECASE,
)
_AUTO_TEXT = re.compile(
    r"\b(?:olen puhkusel|viibin puhkusel|olen kontorist eemal|olen eemal|kontoris tagasi|tagasi kontoris|"
    r"olen tagasi \d|naasen \d|puhkusel kuni|eemal kuni|out of (?:the )?office|i am (?:currently )?away|"
    r"i am on (?:annual )?leave|i will be back|limited access to (?:my )?e-?mail|back in the office|"
    r"this is an automatic reply|automaatne vastus|see on automaatne vastus|ich bin (?:bis|ab)|abwesend)\b",
    re.IGNORECASE,
)
_CONDITIONAL = re.compile(
    r"^(?:juhul,? kui|juhul kui|kui|if|in case|should you|in the event)\b|\b(?:juhul,? kui|juhul kui|kui te|kui teil|"
    r"if you|in case you|should you)\b",
    re.IGNORECASE,
)
_DECLINE = [
    (re.compile(r"\b(?:ei|me ei|ma ei|meie ei)\s+(?:soovi|soovigi|taha)\b.{0,60}\b(?:pakkum|osale|esita|kandideeri)", re.I),
     "'ei soovi ... pakkumust/osaleda'"),
    (re.compile(r"\b(?:ei|pole)\b.{0,25}\b(?:esita(?:me)?|esitata|teha|tee|teeme|saada(?:me)?)\b.{0,40}\bpakkum", re.I),
     "'ei esita pakkumust'"),
    (re.compile(r"\bpakkum\w*\b.{0,40}\b(?:ei|pole)\s+(?:esita|tee|teeme|saada)", re.I), "'pakkumust ei esita'"),
    (re.compile(r"\b(?:jätame|jätan)\b.{0,40}\b(?:esitamata|vahele|tegemata)\b", re.I), "'jätame esitamata/vahele'"),
    (re.compile(r"(?<!ei )\bloobu(?:me|n|mine|da|sime|sin)\b", re.I), "'loobume'"),
    (re.compile(r"\b(?:ei|pole|me ei)\s+(?:saa\s+|suuda\s+|saame\s+|suudame\s+|soovi\s+)?osale(?:da|me|ta|)\b", re.I),
     "'ei osale'"),
    (re.compile(r"\b(?:ei ole|pole)\s+(?:meil|mul|võimalik)\b.{0,40}\b(?:võimalik|pakkum|osale)", re.I),
     "'meil ei ole võimalik ...'"),
    (re.compile(r"\bkahjuks\b.{0,20}\b(?:ei|pole)\s+(?:saa|saame|suuda|suudame|ole|jõua|jõuame)\b"
                r".{0,80}\b(?:pakkum|osale|koolitus|hank|seekord|teenus|tööd|moodul|võtta)", re.I),
     "'kahjuks ei saa ...'"),
    (re.compile(r"\b(?:ei ole|pole|me ei ole)\s+huvitatud\b", re.I), "'ei ole huvitatud'"),
    (re.compile(r"\b(?:will not|won't|shall not|do not|don't|cannot|can't|are unable to|am unable to|"
                r"are not able to|am not able to|not be able to)\b.{0,30}\b(?:submit|bid|tender|participate|"
                r"make an offer|quote|take part)", re.I), "'we will not submit / not able to bid'"),
    (re.compile(r"\b(?:decline|declining|must pass|will pass|no bid|not interested)\b", re.I), "'decline'"),
]
_BID_WORDS = re.compile(
    r"\b(?:pakkumus\w*|pakkumis\w*|pakkumine|esitame|esitan|saadame|saadan|lisatud|manuses|"
    r"our (?:bid|offer|tender|proposal)|please find attached|attached (?:is|are|please find)|we submit|"
    r"we hereby submit|submitting)\b",
    re.IGNORECASE,
)
_BID_FILENAMES = re.compile(r"pakkum|maksumus|lisa[ _-]?[23]|vorm|offer|bid|tender|cost|price|hinna", re.IGNORECASE)
_NOISE_FILES = re.compile(r"^(?:image\d+\.\w+|outlook-\w+\.\w+|logo.*|.*\.(?:vcf|ics|p7s|gif))$", re.IGNORECASE)
_QUESTION = re.compile(
    r"\b(?:küsimus\w*|küsida|selgitus\w*|palun täpsusta\w*|täpsustage|täpsustada|kas\s+\w+|"
    r"question\w*|clarification\w*|could you clarify|please clarify|is it possible|could you)\b",
    re.IGNORECASE,
)


def _headers(facts: MessageFacts) -> dict[str, str]:
    return {k.lower(): (v or "").strip().lower() for k, v in (facts.headers or {}).items()}


def _auto_reply_reasons(facts: MessageFacts, own_text: str) -> list[str]:
    headers = _headers(facts)
    reasons = []
    auto_submitted = headers.get("auto-submitted", "")
    if auto_submitted and auto_submitted != "no":
        reasons.append(f"Auto-Submitted: {auto_submitted}")
    for name in ("x-autoreply", "x-autorespond"):
        if name in headers and headers[name] not in ("no", "false", "0"):
            reasons.append(f"{name} header")
    if headers.get("precedence") == "auto_reply":
        reasons.append("Precedence: auto_reply")
    if "x-ms-exchange-generated-message-source" in headers or headers.get("x-auto-response-suppress") == "all":
        if _AUTO_SUBJECT.search(facts.subject or ""):
            reasons.append("Exchange-generated message")
    if _AUTO_SUBJECT.search(facts.subject or ""):
        reasons.append("auto-reply subject")
    elif not facts.attachment_names and not facts.has_form_attachments and _AUTO_TEXT.search(own_text[:1500]):
        reasons.append("out-of-office wording")
    return reasons


def newsletter_reasons(facts: MessageFacts) -> list[str]:
    """Bulk and list mail: Precedence bulk/junk/list, List-Id, List-Unsubscribe (a newsletter, not an auto-reply)."""
    headers = _headers(facts)
    reasons = []
    if headers.get("precedence") in ("bulk", "junk", "list"):
        reasons.append(f"Precedence: {headers['precedence']}")
    for name in ("list-id", "list-unsubscribe"):
        if headers.get(name):
            reasons.append(f"{name} header")
    return reasons


def decline_reasons(own_text: str, subject: str = "") -> list[str]:
    """Why the sender's own words say they will not bid; [] when they don't."""
    reasons = []
    for sentence in _sentences(subject) + _sentences(own_text):
        if _CONDITIONAL.search(sentence):
            continue
        for pattern, label in _DECLINE:
            if pattern.search(sentence):
                reasons.append(f"decline phrase {label}: {sentence[:120]!r}")
                break
    return reasons


def classify(facts: MessageFacts) -> Classification:
    """Rules in order: bounce (a delay notice is an auto-reply), auto-reply, newsletter (bulk/list mail
    without forms), bid with forms, decline, a bid whose attachments are all unreadable (an invited
    sender, about the procurement), bid by words + files, question (only about the procurement), other."""
    own_text = strip_quoted(facts.text or "")
    subject = re.sub(r"^\s*((re|vs|fw|fwd|edasi|aw|wg|sv)\s*:\s*)+", "", facts.subject or "", flags=re.IGNORECASE)
    if facts.has_bounce:
        if not facts.bounce_permanent:
            return Classification(MessageKind.AUTO_REPLY, ["delay notice (4.x.x): delivery still being retried"])
        return Classification(MessageKind.BOUNCE, ["delivery failure report"])
    from_lower = (facts.from_addr or "").lower()
    if from_lower.startswith(("mailer-daemon@", "postmaster@", "mail-daemon@")):
        return Classification(MessageKind.BOUNCE, [f"sender {from_lower}"])
    auto = _auto_reply_reasons(facts, own_text)
    if auto:
        return Classification(MessageKind.AUTO_REPLY, auto)
    bulk = newsletter_reasons(facts)
    if bulk and not facts.has_form_attachments:
        return Classification(MessageKind.OTHER, ["bulk/list mail (newsletter): " + ", ".join(bulk)])
    if facts.has_form_attachments:
        return Classification(MessageKind.BID, ["form attachments"])
    declines = decline_reasons(own_text, subject)
    if declines:
        return Classification(MessageKind.DECLINE, declines)
    if facts.unreadable_attachments and facts.about_procurement and facts.from_invited:
        return Classification(MessageKind.BID, ["reply from an invited bidder whose attachments cannot be read"])
    files = [n for n in facts.attachment_names if not _NOISE_FILES.match(n or "")]
    if files:
        named = [n for n in files if _BID_FILENAMES.search(n)]
        if named:
            return Classification(MessageKind.BID, [f"bid-like file names: {named[:5]}"])
        words = _BID_WORDS.search(own_text) or _BID_WORDS.search(subject)
        if words:
            return Classification(MessageKind.BID, [f"attachments with bid wording {words.group(0)!r}"])
    question = [s for s in _sentences(own_text) + _sentences(subject) if s.endswith("?") or _QUESTION.search(s)]
    if question and facts.about_procurement:
        return Classification(MessageKind.QUESTION, [f"question: {question[0][:120]!r}"])
    if question:
        return Classification(MessageKind.OTHER, [f"a question, but not about a procurement: {question[0][:80]!r}"])
    if files:
        return Classification(MessageKind.OTHER, [f"attachments without bid wording: {files[:5]}"])
    return Classification(MessageKind.OTHER, ["no rule matched"])
