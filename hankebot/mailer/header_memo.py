"""The `email` package's default policy, with each header parsed once per message and no unused work.

With the default policy every header fetch parses the header afresh: `msg.get`, and every
`get_content_type`, `get_param`, `get_filename`, `get_content_disposition` re-reads Content-Type and
Content-Disposition, and the registry builds a new class for each. A header object is a pure function of
(name, value) and immutable, so `message_policy()` gives a policy whose factory remembers what it made for
one message. Its header classes are the registry's own with one step left out: collecting the parse tree's
defects into the header's `.defects` (quadratic in the number of tokens; Hankebot never reads header
defects, only the message's `msg.defects`, which the parser records without it). Everything else (the
decoded text, addresses, parameters) is the package's own code, so the values are the same.
"""
from __future__ import annotations

import re
from email import _encoded_words as _ew
from email import headerregistry as hr
from email import policy, utils
from email.message import Message
from email.policy import EmailPolicy

from hankebot.mailer.indexed_message import IndexedMessage, raw_values
from hankebot.mailer.reference import in_reference

_MEMO_VALUE = 4000  # longer values are parsed every time (not remembered)
_MEMO_SIZE = 4096  # headers remembered per message at most


class _Address(hr.AddressHeader):
    @classmethod
    def parse(cls, value, kwds):
        if not isinstance(value, str):
            return super().parse(value, kwds)
        kwds["parse_tree"] = address_list = cls.value_parser(value)
        kwds["groups"] = [hr.Group(addr.display_name, [hr.Address(mb.display_name or "", mb.local_part or "",
                                                                  mb.domain or "") for mb in addr.all_mailboxes])
                          for addr in address_list.addresses]
        kwds["defects"] = []
        kwds["decoded"] = ", ".join([str(item) for item in kwds["groups"]])


class _Params:
    @classmethod
    def parse(cls, value, kwds):
        kwds["parse_tree"] = parse_tree = cls.value_parser(value)
        kwds["decoded"] = str(parse_tree)
        kwds["params"] = {} if parse_tree.params is None else {
            utils._sanitize(name).lower(): utils._sanitize(v) for name, v in parse_tree.params}


class _Plain:
    @classmethod
    def parse(cls, value, kwds):
        kwds["parse_tree"] = parse_tree = cls.value_parser(value)
        kwds["decoded"] = str(parse_tree)


def _without_defects(cls: type) -> type:
    if issubclass(cls, hr.AddressHeader):
        return type(cls.__name__, (_Address, cls), {})
    if issubclass(cls, hr.ParameterizedMIMEHeader):
        return type(cls.__name__, (_Params, cls), {})
    if cls in (hr.ContentTransferEncodingHeader, hr.MessageIDHeader):
        return type(cls.__name__, (_Plain, cls), {})
    return cls  # unstructured and date headers collect no tree defects


class _MemoHeaders(hr.HeaderRegistry):
    _classes: dict[type, type] = {}  # registry class -> the combined header class, shared by all

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[tuple[str, str], object] = {}

    def __getitem__(self, name: str) -> type:
        cls = self.registry.get(name.lower(), self.default_class)
        made = self._classes.get(cls)
        if made is None:
            made = self._classes[cls] = type("_" + cls.__name__, (_without_defects(cls), self.base_class), {})
        return made

    def __call__(self, name: str, value: str):
        if len(value) > _MEMO_VALUE:
            return self[name](name, value)
        key = (name, value)
        made = self._made.get(key)
        if made is None:
            if len(self._made) >= _MEMO_SIZE:
                self._made = {}
            made = self._made[key] = self._class_for(name, value)(name, value)
        return made

    def _class_for(self, name: str, value: str) -> type:
        cls = self[name]
        if name.lower() in _LAZY_NAMES and plain_params(value):
            lazy = self._lazy.get(cls)
            if lazy is None:
                lazy = self._lazy[cls] = type("_Lazy" + cls.__name__, (_LazyParams, cls), {"_full": cls})
            return lazy
        return cls

    _lazy: dict[type, type] = {}  # the combined class -> its lazily parsed variant, shared by all


_LAZY_NAMES = ("content-type", "content-disposition")
_LAZY_ATTRS = frozenset({"_parse_tree", "_defects", "_params", "_maintype", "_subtype", "_content_disposition"})
_TOKEN = r"[A-Za-z0-9._+-]+"
_PLAIN_PARAMS = re.compile(rf'{_TOKEN}(?:/{_TOKEN})?(?:;[ \t]*{_TOKEN}=(?:{_TOKEN}|"[ !#-\[\]-~]*"))*')
_PLAIN_PARAM = re.compile(rf';[ \t]*({_TOKEN})=(?:({_TOKEN})|"([ !#-\[\]-~]*)")')


def plain_params(value: str) -> bool:
    """A Content-Type / Content-Disposition value whose parameter parse the default policy's text of it
    follows exactly (`canonical_params`): a plain type, then `; name=token` or `; name="text"` parameters (no
    encoded word, no RFC 2231, no comment, no escape, ASCII, on one line)."""
    return "=?" not in value and _PLAIN_PARAMS.fullmatch(value) is not None


def canonical_params(value: str) -> str:
    """The default policy's text of a `plain_params` value: the type as it is, then each parameter as
    `; name="value"` (quoted; a parameter with an empty value as its bare name)."""
    semi = value.find(";")
    if semi == -1:
        return value
    out = [value[:semi]]
    for found in _PLAIN_PARAM.finditer(value, semi):
        name, token, quoted = found.groups()
        text = token if token is not None else quoted
        out.append(f'; {name}="{text}"' if text else f"; {name}")
    return "".join(out)


class _LazyParams:
    """Mixin for a Content-Type or Content-Disposition header whose value `plain_params` accepts: its text
    (all that `get_content_type`, `get_param`, `get_filename`, `get_content_disposition` read) is
    `canonical_params` of the value, and the parse runs, with the registry's own class, only when anything
    else is asked for."""

    @classmethod
    def parse(cls, value, kwds):
        kwds["decoded"] = canonical_params(value)
        kwds["parse_tree"] = None
        kwds["value"] = value

    def init(self, name, *, parse_tree, defects, value):
        self._name, self._value = name, value

    def __getattr__(self, attr):
        if attr not in _LAZY_ATTRS:
            raise AttributeError(attr)
        full = self._full(self._name, self._value)  # the class this one is lazy for
        for key, value in vars(full).items():
            if key not in ("_name", "_value"):
                self.__dict__[key] = value
        try:
            return self.__dict__[attr]
        except KeyError:
            raise AttributeError(attr) from None


def message_policy() -> EmailPolicy:
    """A fresh policy (its own memo) for parsing one message, whose parts are IndexedMessages; the plain
    default policy for the reference readers (`hankebot.mailer.reference`)."""
    if in_reference():
        return policy.default
    return policy.default.clone(header_factory=_MemoHeaders(), message_factory=IndexedMessage)


_LINESEP = re.compile(r"\n|\r")  # the default policy's unfolding (email.policy.linesep_splitter)


def plain_unstructured(msg: Message, name: str) -> str | None:
    """What `str(msg.get(name))` gives, without the header classes: a header the registry treats as
    unstructured (Subject, In-Reply-To, References, List-Id, ...) whose first occurrence is ASCII: the
    unfolded text itself when it has no encoded word (the unstructured parser's tokens then join back to it
    exactly), else `unstructured_words` of it. None where the header must be parsed (or is absent)."""
    factory = _memo_factory(msg)
    if factory is None:
        return None
    if not issubclass(factory.registry.get(name.lower(), factory.default_class), hr.UnstructuredHeader):
        return None
    for raw in raw_values(msg, name)[:1]:
        if not isinstance(raw, str) or not raw.isascii():
            return None
        unfolded = "".join(_LINESEP.split(raw))
        return unfolded if "=?" not in unfolded else unstructured_words(unfolded)
    return None


_WSP_SPLIT = re.compile(r"([ \t]+)")  # the unstructured parser's white space (email._header_value_parser.WSP)
_UNSTRUCTURED_EW = re.compile(r"=\?([A-Za-z0-9_.:-]+)\?[QqBb]\?([^?\s]+)\?=")
_HEX = frozenset("0123456789abcdefABCDEF")


def unstructured_words(value: str) -> str | None:
    """The unstructured parser's text of an unfolded ASCII value with encoded words, where every word is
    either plain text without "=?" or one whole encoded word that the package's own decoder reads without a
    defect: the words as they are, each encoded word decoded, white space kept except between two encoded
    words (RFC 2047 6.2). None for anything else (the parser decides)."""
    out: list[str] = []
    prev_encoded = False
    pieces = _WSP_SPLIT.split(value)
    for i in range(0, len(pieces), 2):
        word = pieces[i]
        space = pieces[i - 1] if i else ""
        if not word:  # leading or trailing white space
            out.append(space)
            continue
        found = _UNSTRUCTURED_EW.fullmatch(word)
        if found is None:
            if "=?" in word:
                return None
            out += [space, word]
            prev_encoded = False
            continue
        text = found.group(2)
        if text[0] == "=" and not (len(text) >= 3 and text[1] in _HEX and text[2] in _HEX):
            return None  # where the parser's "?=" split would fall inside the word
        try:
            decoded, _charset, _lang, defects = _ew.decode(word)
        except Exception:  # noqa: BLE001 - the parser decides
            return None
        if defects or utils._has_surrogates(decoded):
            return None
        out += ["" if prev_encoded else space, decoded]
        prev_encoded = True
    return "".join(out)


def _first_ascii(msg: Message, name: str) -> str | None:
    """The unfolded value of the first `name` header, where every occurrence is plain ASCII text and the
    message was parsed by `message_policy()`; else None."""
    if _memo_factory(msg) is None:
        return None
    first = None
    for raw in raw_values(msg, name):
        if not isinstance(raw, str) or not raw.isascii():
            return None
        if first is None:
            first = raw
    return None if first is None else "".join(_LINESEP.split(first))


def plain_date(msg: Message) -> str | None:
    """What `str(msg.get("date"))` gives, without the header classes: the registry's DateHeader.parse
    step by step (the value itself when it is not a date, else the date formatted back), minus the parse
    tree of that text it builds and Hankebot never reads. None where it must go the usual way."""
    value = _first_ascii(msg, "date")
    if not value:
        return None
    try:
        stamp = utils.parsedate_to_datetime(value)
    except ValueError:  # DateHeader.parse: "Invalid date value or format", the value kept as it is
        return value
    except Exception:  # noqa: BLE001 - anything else: the header classes decide
        return None
    try:
        return utils.format_datetime(stamp)
    except Exception:  # noqa: BLE001
        return None


_ADDR = r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_MAILBOX = rf"[ \t]*(?:[A-Za-z0-9]+(?: [A-Za-z0-9]+)* *<{_ADDR}>|{_ADDR})[ \t]*"
_SIMPLE_ADDRESSES = re.compile(rf"{_MAILBOX}(?:,{_MAILBOX})*")


def plain_addresses(msg: Message, name: str) -> list[str] | None:
    """Values of an address header (From, To, Cc, Reply-To) that `email.utils.getaddresses` reads exactly as
    it reads the default policy's re-formatted `str()` of them: every occurrence a list of plain ASCII
    mailboxes (`Name Surname <local@domain>` with letters and digits in the name, or a bare address), on
    one line. None where the header must be parsed."""
    if _memo_factory(msg) is None:
        return None
    values = []
    for raw in raw_values(msg, name):
        if not isinstance(raw, str):
            return None
        if not _SIMPLE_ADDRESSES.fullmatch(raw):
            raw = _encoded_mailbox(raw)
            if raw is None:
                return None
        values.append(raw)
    return values


_SIMPLE_MAILBOX = re.compile(rf"[ \t]*(?:([^\W_]+(?: [^\W_]+)*) *<({_ADDR})>|({_ADDR}))[ \t]*")


def simple_addresses(values: list[str]) -> list[tuple[str, str]] | None:
    """`email.utils.getaddresses(values)` for the values `plain_addresses` gives (plain mailboxes, no
    quotes, comments or groups, names of letters and digits with single spaces): each comma-separated
    mailbox as (its name, its address). None for anything else."""
    out = []
    for value in values:
        for piece in value.split(","):
            found = _SIMPLE_MAILBOX.fullmatch(piece)
            if found is None:
                return None
            name, addr, bare = found.groups()
            out.append(("", bare) if bare is not None else (name, addr))
    return out


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_MSG_ID = re.compile(rf"[ \t]*<{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*>[ \t]*")


def plain_message_id(msg: Message) -> str | None:
    """What `str(msg.get("message-id"))` gives, without the header classes, where that is the unfolded
    value itself: one `<dot-atom@domain>` (no encoded word, comment, quoting or literal) with white space
    around it at most. None where it must be parsed."""
    value = _first_ascii(msg, "message-id")
    if value is None or "=?" in value or not _PLAIN_MSG_ID.fullmatch(value):
        return None
    return value


_EW = r"=\?(?i:utf-8|us-ascii|iso-8859-1)\?[QqBb]\?[A-Za-z0-9_=+/.-]*\?="
_EW_RE = re.compile(_EW)
_WORD = rf"(?:{_EW}|[A-Za-z0-9]+)"
_ENCODED_MAILBOX = re.compile(rf"[ \t]*((?:{_WORD}[ \t]+)*{_WORD})[ \t]*<({_ADDR})>[ \t]*")
_WS = re.compile(r"[ \t]+")


def _encoded_mailbox(raw: str) -> str | None:
    """One mailbox whose display name has encoded words (`Koolitus 001 =?utf-8?q?O=C3=9C?= <a@b.ee>`), on
    one line, as the default policy formats it: the words decoded by the package's own decoder, each run of
    white space one space. Only where the decoded name is letters, digits and single inner spaces (the
    policy then neither quotes it nor keeps anything else); None otherwise."""
    found = _ENCODED_MAILBOX.fullmatch(raw)
    if found is None or "=?" not in found.group(1):
        return None
    words = []
    for word in _WS.split(found.group(1)):
        if _EW_RE.fullmatch(word):
            try:
                word, _charset, _lang, defects = _ew.decode(word)
            except Exception:  # noqa: BLE001 - the parser decides
                return None
            if defects:
                return None
        words.append(word)
    display = " ".join(words)
    if not display or display != display.strip() or "  " in display or not all(
            ch.isalnum() or ch == " " for ch in display):
        return None
    return f"{display} <{found.group(2)}>"


def _memo_factory(msg: Message) -> _MemoHeaders | None:
    """The message's memoising header factory when it was parsed by `message_policy()` (not the reference)."""
    if in_reference() or not isinstance(msg.policy, EmailPolicy):
        return None
    factory = msg.policy.header_factory
    return factory if isinstance(factory, _MemoHeaders) else None
