"""The stand-in's HTML / MarkdownV2 parsers: real Telegram's texts, offsets and error messages."""
from __future__ import annotations

import html

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hankebot.devstack.telegram_api.entities import (
    EntityParseError,
    parse_html,
    parse_markdown_v2,
    strip_text,
    utf16_len,
)


def test_html_supported_tags_become_entities():
    text, entities = parse_html(
        '<b>a</b><strong>b</strong><i>c</i><em>d</em><u>e</u><ins>f</ins><s>g</s><strike>h</strike>'
        '<del>i</del><tg-spoiler>j</tg-spoiler><span class="tg-spoiler">k</span><code>l</code>'
        '<pre>m</pre><blockquote>n</blockquote><a href="https://riigihanked.riik.ee/?a=1&amp;b=2">o</a>'
    )
    assert text == "abcdefghijklmno"
    types = [e["type"] for e in entities]
    assert types == ["bold", "bold", "italic", "italic", "underline", "underline", "strikethrough",
                     "strikethrough", "strikethrough", "spoiler", "spoiler", "code", "pre",
                     "blockquote", "text_link"]
    assert entities[-1]["url"] == "https://riigihanked.riik.ee/?a=1&b=2"


def test_html_offsets_are_utf16_and_errors_use_byte_offsets():
    text, entities = parse_html("😀 <b>õ</b>")
    assert text == "😀 õ"
    assert entities == [{"offset": 3, "length": 1, "type": "bold"}]  # emoji = 2 UTF-16 units
    with pytest.raises(EntityParseError, match='Unsupported start tag "x" at byte offset 6'):
        parse_html("õõõ<x>")  # õ is two bytes in UTF-8


@pytest.mark.parametrize("source, message", [
    ("<p>x</p>", 'Unsupported start tag "p" at byte offset 0'),
    ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
    ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
    ("x</b>", "Unexpected end tag at byte offset 1"),
    ("<b", "Unclosed start tag at byte offset 0"),
    ('<span class="x">y</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ("A & B", 'Unescaped "&" at byte offset 2'),
])
def test_html_errors(source, message):
    with pytest.raises(EntityParseError) as caught:
        parse_html(source)
    assert str(caught.value).startswith(message)


def test_html_entities_and_lenient_ampersand_mode():
    assert parse_html("&lt;&gt;&amp;&quot;&#36;&#x20AC;")[0] == '<>&"$€'
    assert parse_html("A & B", strict_ampersand=False)[0] == "A & B"


def test_pre_with_code_language():
    text, entities = parse_html('<pre><code class="language-python">x = 1</code></pre>')
    assert text == "x = 1"
    assert entities == [{"offset": 0, "length": 5, "type": "pre", "language": "python"}]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_escaped_text_always_parses_back_to_itself(raw):
    text, entities = parse_html(html.escape(raw, quote=False))
    assert text == raw and entities == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=100))
def test_html_parser_never_raises_anything_else(raw):
    try:
        parse_html(raw)
    except EntityParseError:
        pass


def test_markdown_v2_entities():
    text, entities = parse_markdown_v2(r"*paks* _kald_ __joon__ ~maha~ ||peidus|| `kood` [link](https://x.ee/\)) 1\.")
    assert text == "paks kald joon maha peidus kood link 1."
    assert [e["type"] for e in entities] == ["bold", "italic", "underline", "strikethrough", "spoiler",
                                             "code", "text_link"]
    assert entities[-1]["url"] == "https://x.ee/)"


@pytest.mark.parametrize("source, message", [
    ("19.01.2026", "Character '.' is reserved and must be escaped with the preceding '\\'"),
    ("a-b", "Character '-' is reserved"),
    ("*paks", "Can't find end of Bold entity at byte offset 0"),
    ("õ _x", "Can't find end of Italic entity at byte offset 3"),
])
def test_markdown_v2_errors(source, message):
    with pytest.raises(EntityParseError) as caught:
        parse_markdown_v2(source)
    assert str(caught.value).startswith(message)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=100))
def test_markdown_parser_never_raises_anything_else(raw):
    try:
        parse_markdown_v2(raw)
    except EntityParseError:
        pass


def test_strip_text_shifts_entities():
    text, entities = strip_text("  tere  ", [{"type": "bold", "offset": 0, "length": 6}])
    assert text == "tere"
    assert entities == [{"type": "bold", "offset": 0, "length": 4}]
    assert utf16_len("😀") == 2
