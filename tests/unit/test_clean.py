"""clean_text / clean_line: markup, entities, unicode, control characters, whitespace."""

from __future__ import annotations

import unicodedata

import pytest

from ingest.core.text import clean_line, clean_text


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("<p>One</p><p>Two</p>", "One\nTwo"),
        ("Line<br>break", "Line\nbreak"),
        ("<ul><li>a</li><li>b</li></ul>", "- a\n- b"),
        ("<b>bold</b> and <i>italic</i>", "bold and italic"),
        ("<p>unclosed <b>tags", "unclosed tags"),
        ("<div>x</div><div>y</div>", "x\ny"),
    ],
)
def test_markup_is_removed_and_blocks_become_lines(given: str, expected: str) -> None:
    assert clean_text(given) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Fish, Blood &amp; Bone", "Fish, Blood & Bone"),
        ("5 &lt; 10 &gt; 3", "5 < 10 > 3"),
        ("caf&eacute; &#233; &#xE9;", "café é é"),
        ("<p>Salt &amp; pepper</p>", "Salt & pepper"),
    ],
)
def test_entities_are_decoded_with_or_without_markup(given: str, expected: str) -> None:
    assert clean_text(given) == expected


def test_text_that_only_looks_like_markup_is_kept() -> None:
    assert clean_text("pH < 7 and EC > 2") == "pH < 7 and EC > 2"


def test_script_and_style_are_dropped_with_their_content() -> None:
    text = (
        "<p>Keep</p><script>alert('x')</script><style>p{color:red}</style>"
        "<noscript>js off</noscript>me"
    )
    cleaned = clean_text(text)
    assert "alert" not in cleaned and "color" not in cleaned and "js off" not in cleaned
    assert cleaned == "Keep\nme"


def test_nfkc_normalisation() -> None:
    # ligature, full-width digits, superscript, decomposed accent -> their NFKC forms
    assert clean_text("ﬁne ＡＢ１２ m² cafe\u0301") == "fine AB12 m2 café"
    assert unicodedata.is_normalized("NFKC", clean_text("Ａ\u0301"))


def test_control_and_zero_width_characters_are_dropped() -> None:
    assert clean_text("a\x00b\x07c\x1fd\x7fe\u200bf\ufeffg") == "abcdefg"


def test_whitespace_is_folded_but_paragraphs_kept() -> None:
    text = "  one \t two\u00a0\u2003three  \r\n\r\n\r\n  four\rfive  "
    assert clean_text(text) == "one two three\n\nfour\nfive"


def test_clean_text_is_idempotent() -> None:
    text = "<p>Rich &amp; dark</p>\n\n<ul><li> Peat\u00a0free </li></ul>\t&#233;"
    once = clean_text(text)
    assert clean_text(once) == once


def test_clean_line_folds_onto_one_line() -> None:
    assert clean_line("<h1>Tomato\nFeed</h1>\n\n<p>1 L</p>") == "Tomato Feed 1 L"
    assert clean_line("<p></p>") == ""


def test_c1_control_characters_are_dropped() -> None:
    # U+0085 (NEL) and U+0080..U+009F appear in mis-decoded Windows-1252 feeds; they are Unicode Cc
    cleaned = clean_text("Tomato\x85 feed\x9d 1\x80 L")
    assert not [c for c in cleaned if unicodedata.category(c) == "Cc" and c != "\n"]
