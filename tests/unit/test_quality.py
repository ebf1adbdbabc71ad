"""Garbage filter: empty, placeholder, too short, non-text and wrongly decoded text is rejected
with a readable reason; real product text (sizes, model numbers, other scripts, spec tables)
passes."""

from __future__ import annotations

import base64

import pytest

from ingest.core.text import clean_text
from ingest.prepare.quality import DESCRIPTION, ELEMENT, TABLE, TITLE, TextRule, garbage_reason

RULES = {"title": TITLE, "description": DESCRIPTION, "element": ELEMENT, "table": TABLE}
ALL_RULES = pytest.mark.parametrize("rule", list(RULES.values()), ids=list(RULES))


# --------------------------------------------------------------------------- garbage


@ALL_RULES
@pytest.mark.parametrize("text", ["", "   ", "\n\t \n"], ids=["nothing", "spaces", "blank-lines"])
def test_empty(text: str, rule: TextRule) -> None:
    assert garbage_reason(text, rule) == "empty"


PLACEHOLDERS = [
    "lorem ipsum",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.",
    "TBD",
    "tbc",
    "N/A",
    "n/a",
    "coming soon",
    "Coming soon!",
    "test product",
    "Test Product 2",
    "testing",
    "xxx",
    "XXXXXXXX",
    "---",
    "...",
    "???",
    "asdf",
    "null",
    "undefined",
    "placeholder",
    "Sample description",
    "No description available",
    "Description to follow",
    "To be confirmed",
    "  -- TBD --  ",
]


@ALL_RULES
@pytest.mark.parametrize("text", PLACEHOLDERS)
def test_placeholder(text: str, rule: TextRule) -> None:
    reason = garbage_reason(text, rule)
    assert reason is not None and reason.startswith("placeholder text ")
    assert text.strip()[:20] in reason  # the reason shows what was found


def test_long_placeholder_is_shown_cut() -> None:
    text = "Lorem ipsum " + "dolor sit amet " * 20
    reason = garbage_reason(text, DESCRIPTION)
    assert reason is not None and reason.startswith("placeholder text 'Lorem ipsum dolor")
    assert reason.endswith("…'") and len(reason) < 70


@pytest.mark.parametrize(
    ("text", "rule", "reason"),
    [
        ("a", TITLE, "too short (1 letters, at least 2) 'a'"),
        ("7", TITLE, "too short (0 letters, at least 2) '7'"),
        ("12345 6789", ELEMENT, "too short (0 letters, at least 2) '12345 6789'"),
        ("Red.", DESCRIPTION, "too short (3 letters, at least 8) 'Red.'"),
        ("M8 x 30 bolt", DESCRIPTION, "too short (6 letters, at least 8) 'M8 x 30 bolt'"),
        ("10 | 20\n30 | 40", TABLE, "too short (0 letters, at least 2) '10 | 20\\n30 | 40'"),
    ],
)
def test_too_short(text: str, rule: TextRule, reason: str) -> None:
    assert garbage_reason(text, rule) == reason


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("SKU 12345678 EAN 4006381333931 REF 0815-4711-2231", DESCRIPTION),
        ("%%% ### 12 34 56 78 90 !! abc def ghi", DESCRIPTION),
        ("1234-5678-90 AB 12345678 // 998877", TITLE),
        ("0.25 0.50 0.75 1.00 1.25 1.50 1.75 ok", ELEMENT),
    ],
)
def test_mostly_non_text(text: str, rule: TextRule) -> None:
    reason = garbage_reason(text, rule)
    assert reason is not None and reason.startswith("mostly non-text (")
    assert "% letters)" in reason


def test_heavy_mojibake_description_is_non_text() -> None:
    # Russian UTF-8 read as cp1252: every letter becomes a letter plus a symbol
    real = "Удобрение для томатов, разводить водой перед применением."
    mojibake = clean_text(real.encode("utf-8").decode("cp1252", errors="replace"))
    reason = garbage_reason(mojibake, DESCRIPTION)
    assert reason is not None and reason.startswith(("mostly non-text", "undecodable"))


@pytest.mark.parametrize("rule", [DESCRIPTION, ELEMENT], ids=["description", "element"])
def test_base64_dump_is_non_text(rule: TextRule) -> None:
    blob = base64.b64encode(bytes(range(256)) * 2).decode()
    assert garbage_reason(blob, rule) is not None


@ALL_RULES
def test_replacement_characters_mean_a_wrong_charset(rule: TextRule) -> None:
    reason = garbage_reason("Caf\ufffd au lait \ufffd\ufffd table", rule)
    assert reason == "undecodable text (3 replacement characters: wrong charset?)"


def test_one_stray_replacement_character_in_a_long_text_passes() -> None:
    text = (
        "Dilute 20 ml in a 4.5 L watering can and apply to moist compost \ufffd rather than "
        "dry roots. One bottle makes around 225 litres of feed."
    )
    assert garbage_reason(text, DESCRIPTION) is None


# --------------------------------------------------------------------------- hard negatives

REAL_TITLES = [
    "M8 x 30 bolt",
    "12V 7Ah battery",
    "NPK 10-10-20 fertiliser 25 kg",
    "AA batteries (pack of 4)",
    "Ø 40 mm PVC pipe 2 m",
    "Test tube rack 12 holes",
    "Testing kit for soil pH",
    "Empty sandbags 50 pack",
    "Blank labels 100 pack",
    "None-return valve 1/2 inch",
    "Tomatendünger 1 L",
    "Engrais pour tomates à base d'algues 1 L",
    "Удобрение для томатов 1 л",
    "番茄肥料 1升",
    "トマト肥料 500 ml",
    "토마토 비료 1 kg",
    "剪刀",
]


@pytest.mark.parametrize("title", REAL_TITLES)
def test_real_titles_pass(title: str) -> None:
    assert garbage_reason(title, TITLE) is None


@pytest.mark.parametrize(
    "description",
    [
        "A high-potash liquid feed. Dilute 20 ml in 4.5 L of water and apply weekly.",
        "Not available in stores: sold online only, shipped in recycled packaging.",
        "Жидкое удобрение для томатов и перцев. Разводить водой перед применением.",
        "适用于番茄和辣椒的液体肥料，使用前用水稀释。",
        "Coming soon to our garden centre range: peat-free compost for raised beds.",
    ],
)
def test_real_descriptions_pass(description: str) -> None:
    assert garbage_reason(description, DESCRIPTION) is None


def test_spec_table_of_numbers_passes_as_a_table_only() -> None:
    table = "Size (mm) | Weight (kg)\n10 | 2.5\n20 | 5.0\n40 | 10.0\n80 | 20.0\n160 | 40.0"
    assert garbage_reason(table, TABLE) is None
    assert garbage_reason(table, DESCRIPTION) is not None  # the exemption is what lets it pass


@pytest.mark.parametrize(
    "item", ["Brass tap", "Do not freeze.", "Keep the lid closed.", "2 × hose clips", "Lid"]
)
def test_short_list_items_pass_as_elements(item: str) -> None:
    assert garbage_reason(item, ELEMENT) is None


def test_rules_are_ordered_by_strictness() -> None:
    # a title may be short and full of sizes; a description of the same text says nothing
    assert garbage_reason("12V 7Ah", TITLE) is None
    assert garbage_reason("12V 7Ah", DESCRIPTION) is not None
