"""Telegram's text formatting: HTML and MarkdownV2 parsing into plain text + MessageEntity dicts.

Modelled on tdlib's ``parse_html`` / ``parse_markdown_v2`` (the code behind the Bot API), including
its error texts ("Unsupported start tag ... at byte offset N"). Offsets in entities are UTF-16
code units, offsets in error texts are UTF-8 byte offsets, exactly as the real API does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class EntityParseError(ValueError):
    """Raised with the text that follows "Bad Request: can't parse entities: "."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (the unit of Telegram entity offsets)."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


@dataclass
class _Open:
    tag: str
    argument: str
    utf16_start: int
    start_index: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


_HTML_TAGS = {
    "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins",
    "tg-spoiler", "tg-emoji", "span", "pre", "code", "blockquote",
}
_HTML_SIMPLE = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
    "del": "strikethrough", "tg-spoiler": "spoiler", "span": "spoiler",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _decode_html_entity(text: str, i: int) -> tuple[str, int] | None:
    """Decode ``&...;`` at ``text[i]``; return (character, index after ';') or None."""
    end = text.find(";", i + 1, i + 12)
    if end < 0:
        return None
    body = text[i + 1:end]
    if body in _NAMED_ENTITIES:
        return _NAMED_ENTITIES[body], end + 1
    if body.startswith("#"):
        digits = body[1:]
        try:
            code = int(digits[1:], 16) if digits[:1] in ("x", "X") else int(digits, 10)
        except ValueError:
            return None
        if 0 < code < 0x110000 and not 0xD800 <= code <= 0xDFFF:
            return chr(code), end + 1
    return None


def parse_html(source: str, *, strict_ampersand: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-HTML into (plain text, entities).

    ``strict_ampersand``: the real API keeps a bare ``&`` literally; this stand-in rejects it by
    default because the Bot API docs require escaping it, so a bot that passes here is safe.
    """
    out: list[str] = []
    utf16_pos = 0
    entities: list[dict[str, Any]] = []
    stack: list[_Open] = []
    n = len(source)
    i = 0

    def emit(chunk: str) -> None:
        nonlocal utf16_pos
        out.append(chunk)
        utf16_pos += utf16_len(chunk)

    while i < n:
        c = source[i]
        if c == "&":
            decoded = _decode_html_entity(source, i)
            if decoded is not None:
                emit(decoded[0])
                i = decoded[1]
                continue
            if strict_ampersand:
                raise EntityParseError(
                    f'Unescaped "&" at byte offset {_byte_offset(source, i)}; use "&amp;"'
                )
        if c != "<":
            emit(c)
            i += 1
            continue
        begin = i
        begin_byte = _byte_offset(source, begin)
        i += 1
        if i < n and source[i] != "/":
            name_start = i
            while i < n and not source[i].isspace() and source[i] != ">":
                i += 1
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin_byte}")
            tag = source[name_start:i].lower()
            if tag not in _HTML_TAGS:
                raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {begin_byte}')
            argument = ""
            extra: dict[str, Any] = {}
            while i < n and source[i] != ">":
                while i < n and source[i].isspace():
                    i += 1
                if i < n and source[i] == ">":
                    break
                attr_start = i
                while i < n and not source[i].isspace() and source[i] not in "=>":
                    i += 1
                attr_name = source[attr_start:i]
                if not attr_name:
                    raise EntityParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {begin_byte}'
                    )
                while i < n and source[i].isspace():
                    i += 1
                if i >= n:
                    raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin_byte}')
                value = ""
                if source[i] != "=":
                    if tag == "blockquote" and attr_name == "expandable":
                        extra["expandable"] = True
                        continue
                    raise EntityParseError(
                        "Expected equal sign in declaration of an attribute of the tag "
                        f'"{tag}" at byte offset {begin_byte}'
                    )
                i += 1
                while i < n and source[i].isspace():
                    i += 1
                if i >= n:
                    raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin_byte}')
                if source[i] not in "'\"":
                    token_start = i
                    while i < n and (source[i].isalnum() or source[i] in ".-"):
                        i += 1
                    value = source[token_start:i].lower()
                    if i < n and not source[i].isspace() and source[i] != ">":
                        raise EntityParseError(
                            f"Unexpected end of name token at byte offset {_byte_offset(source, token_start)}"
                        )
                else:
                    quote = source[i]
                    i += 1
                    chars: list[str] = []
                    while i < n and source[i] != quote:
                        if source[i] == "&":
                            decoded = _decode_html_entity(source, i)
                            if decoded is not None:
                                chars.append(decoded[0])
                                i = decoded[1]
                                continue
                        chars.append(source[i])
                        i += 1
                    if i < n:
                        i += 1
                    value = "".join(chars)
                if i >= n:
                    raise EntityParseError(f"Unclosed start tag at byte offset {begin_byte}")
                if tag == "a" and attr_name == "href":
                    argument = value
                elif tag == "code" and attr_name == "class" and value.startswith("language-"):
                    argument = value[len("language-"):]
                elif tag == "span" and attr_name == "class" and value.startswith("tg-"):
                    argument = value[len("tg-"):]
                elif tag == "tg-emoji" and attr_name == "emoji-id":
                    argument = value
            if tag == "span" and argument != "spoiler":
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {begin_byte}'
                )
            i += 1  # skip '>'
            stack.append(_Open(tag, argument, utf16_pos, extra=extra))
            continue
        # end tag
        if not stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {begin_byte}")
        i += 1  # skip '/'
        name_start = i
        while i < n and not source[i].isspace() and source[i] != ">":
            i += 1
        end_name = source[name_start:i].lower()
        while i < n and source[i].isspace():
            i += 1
        if i >= n or source[i] != ">":
            raise EntityParseError(f"Unclosed end tag at byte offset {begin_byte}")
        i += 1
        opened = stack.pop()
        if end_name and end_name != opened.tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {begin_byte}, expected "</{opened.tag}>", '
                f'found "</{end_name}>"'
            )
        length = utf16_pos - opened.utf16_start
        if length <= 0:
            continue
        entity: dict[str, Any] = {"offset": opened.utf16_start, "length": length}
        if opened.tag in _HTML_SIMPLE:
            entity["type"] = _HTML_SIMPLE[opened.tag]
        elif opened.tag == "a":
            if not opened.argument:
                continue
            entity.update(type="text_link", url=opened.argument)
        elif opened.tag == "tg-emoji":
            entity.update(type="custom_emoji", custom_emoji_id=opened.argument)
        elif opened.tag == "blockquote":
            entity["type"] = "expandable_blockquote" if opened.extra.get("expandable") else "blockquote"
        elif opened.tag == "pre":
            entity["type"] = "pre"
            # <pre><code class="language-x">...</code></pre> becomes one pre entity with a language
            inner = [e for e in entities if e.get("type") == "code" and e["offset"] == opened.utf16_start
                     and e["length"] == length and e.get("_language")]
            if inner:
                entity["language"] = inner[0]["_language"]
                entities.remove(inner[0])
        elif opened.tag == "code":
            entity["type"] = "code"
            if opened.argument:
                entity["_language"] = opened.argument
        entities.append(entity)
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    for e in entities:
        e.pop("_language", None)
    return "".join(out), _sorted(entities)


def _sorted(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold", "italic": "Italic", "underline": "Underline", "strikethrough": "Strikethrough",
    "spoiler": "Spoiler", "code": "Code", "pre": "Pre", "text_link": "TextUrl",
}


def parse_markdown_v2(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse MarkdownV2 into (plain text, entities); reserved characters must be escaped."""
    out: list[str] = []
    utf16_pos = 0
    entities: list[dict[str, Any]] = []
    stack: list[_Open] = []
    n = len(source)
    i = 0

    def emit(chunk: str) -> None:
        nonlocal utf16_pos
        out.append(chunk)
        utf16_pos += utf16_len(chunk)

    def close(opened: _Open, **extra: Any) -> None:
        length = utf16_pos - opened.utf16_start
        if length > 0:
            entities.append({"type": opened.tag, "offset": opened.utf16_start, "length": length, **extra})

    while i < n:
        c = source[i]
        if c == "\\" and i + 1 < n and 0 < ord(source[i + 1]) <= 126:
            emit(source[i + 1])
            i += 2
            continue
        top = stack[-1].tag if stack else None
        if top in ("code", "pre"):
            if top == "pre" and source.startswith("```", i):
                opened = stack.pop()
                close(opened, **({"language": opened.argument} if opened.argument else {}))
                i += 3
                continue
            if top == "code" and c == "`":
                close(stack.pop())
                i += 1
                continue
            emit(c)
            i += 1
            continue
        if c not in _MDV2_RESERVED:
            emit(c)
            i += 1
            continue
        # closing an open entity?
        if stack:
            t = stack[-1].tag
            closing = (
                (t == "bold" and c == "*")
                or (t == "italic" and c == "_" and not source.startswith("__", i))
                or (t == "underline" and source.startswith("__", i))
                or (t == "strikethrough" and c == "~")
                or (t == "spoiler" and source.startswith("||", i))
                or (t == "text_link" and c == "]")
            )
            # "___" closing italic inside underline: prefer the innermost entity
            if t == "italic" and c == "_" and source.startswith("__", i) and len(stack) >= 1:
                closing = True
            if closing:
                opened = stack.pop()
                if t == "text_link":
                    i += 1
                    if i < n and source[i] == "(":
                        j = i + 1
                        url_chars: list[str] = []
                        while j < n and source[j] != ")":
                            if source[j] == "\\" and j + 1 < n:
                                j += 1
                            url_chars.append(source[j])
                            j += 1
                        if j >= n:
                            raise EntityParseError(
                                f"Can't find end of a URL at byte offset {_byte_offset(source, i)}"
                            )
                        i = j + 1
                        url = "".join(url_chars)
                        if url:
                            close(opened, url=url)
                    continue
                close(opened)
                i += 2 if t in ("underline", "spoiler") else 1
                continue
        start = _Open("", "", utf16_pos, start_index=_byte_offset(source, i))
        if c == "_" and source.startswith("__", i):
            start.tag = "underline"
            i += 2
        elif c == "_":
            start.tag = "italic"
            i += 1
        elif c == "*":
            start.tag = "bold"
            i += 1
        elif c == "~":
            start.tag = "strikethrough"
            i += 1
        elif c == "|" and source.startswith("||", i):
            start.tag = "spoiler"
            i += 2
        elif c == "[":
            start.tag = "text_link"
            i += 1
        elif c == "`" and source.startswith("```", i):
            start.tag = "pre"
            i += 3
            nl = source.find("\n", i)
            lang = source[i:nl] if nl >= 0 else ""
            if lang and all(ch.isalnum() or ch in "+-_#" for ch in lang):
                i = nl + 1
            else:
                lang = ""
                if nl == i:
                    i += 1
            start.argument = lang
        elif c == "`":
            start.tag = "code"
            i += 1
        elif c == ">" and (i == 0 or source[i - 1] == "\n"):
            end = source.find("\n", i)
            end = n if end < 0 else end
            inner_text, inner_entities = parse_markdown_v2(source[i + 1:end])
            base = utf16_pos
            emit(inner_text)
            for e in inner_entities:
                e["offset"] += base
                entities.append(e)
            if inner_text:
                entities.append({"type": "blockquote", "offset": base, "length": utf16_len(inner_text)})
            i = end
            continue
        else:
            raise EntityParseError(
                f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
            )
        stack.append(start)
    if stack:
        opened = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_MDV2_NAMES.get(opened.tag, opened.tag)} entity at byte offset "
            f"{opened.start_index}"
        )
    return "".join(out), _sorted(entities)


def parse_text(text: str, parse_mode: str | None, *, strict_ampersand: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Apply ``parse_mode`` (None, "HTML", "MarkdownV2"; case-insensitive like the real API)."""
    mode = (parse_mode or "").lower()
    if not mode:
        return text, []
    if mode == "html":
        return parse_html(text, strict_ampersand=strict_ampersand)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        raise EntityParseError("legacy Markdown is not supported by this stand-in; use HTML or MarkdownV2")
    raise EntityParseError(f"unsupported parse_mode {parse_mode!r}")


def strip_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim leading/trailing whitespace like the real API and clip entities to the kept text."""
    stripped_left = text.lstrip()
    lead = utf16_len(text) - utf16_len(stripped_left)
    stripped = stripped_left.rstrip()
    total = utf16_len(stripped)
    kept: list[dict[str, Any]] = []
    for e in entities:
        start = max(e["offset"] - lead, 0)
        end = min(e["offset"] + e["length"] - lead, total)
        if end > start:
            kept.append({**e, "offset": start, "length": end - start})
    return stripped, kept
