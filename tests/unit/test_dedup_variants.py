"""Deduplication, one test per hard class: copies of a short text are exact duplicates whatever
their case, punctuation, whitespace, entities or markup; siblings that differ in one colour,
finish, model, series, gendered word, connector or size token are kept apart; rewordings of one
title stay duplicates; a copy is linked to its true original, not to the original's sibling.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ingest.prepare.dedup import Deduplicator, DedupResult, DedupRules
from schemas.models import ProductRecord

DESCRIPTION = (
    "A midweight cotton tee with a ribbed crew neck and taped shoulder seams. Cut for a regular "
    "fit that keeps its shape wash after wash. Pre-shrunk, so the size you buy is the size it "
    "stays. Machine wash at 30 degrees and tumble dry low."
)


def product(product_id: str, title: str, **fields: object) -> ProductRecord:
    values: dict[str, object] = {
        "id": product_id,
        "title": title,
        "brand": "Northfield",
        "description": DESCRIPTION,
    }
    return ProductRecord.model_validate(values | fields)


def last_of(*records: ProductRecord, rules: DedupRules | None = None) -> DedupResult:
    """What the deduplicator answers for the last record, after seeing the others in order."""
    with Deduplicator(":memory:", rules=rules or DedupRules()) as dedup:
        for record in records[:-1]:
            dedup.check(record)
        return dedup.check(records[-1])


# --- copies of a short text are exact duplicates -----------------------------------------------

SHORT = "Men's Classic Crew Neck T-Shirt & Cap Set, Sapphire"


@pytest.mark.parametrize(
    "copy",
    [
        "MEN'S CLASSIC CREW NECK T-SHIRT & CAP SET, SAPPHIRE",
        "men's classic crew neck t-shirt & cap set, sapphire",
        "Mens Classic Crew-Neck TShirt & Cap Set - Sapphire!",
        "Men’s Classic Crew Neck T‑Shirt and Cap Set | Sapphire.",
        "  Men's\tClassic  Crew\u00a0Neck T-Shirt\n& Cap\u200b Set,   Sapphire ",
        "Men&#39;s Classic Crew Neck T-Shirt &Amp; Cap Set, Sapphire",
        "Men&apos;s&NBSP;Classic Crew Neck T-Shirt &AMP; Cap Set&COMMA; Sapphire",
        "Men&amp;#39;s Classic Crew Neck T-Shirt &amp;amp; Cap Set, Sapphire",
        "Men&#X27;s Classic Crew Neck T&#45;Shirt &#38; Cap Set, Sapph&shy;ire",
        "<b>Men's</b> Classic <span class='x'>Crew Neck</span> T-Shirt &amp; Cap Set, <I>Sapphire</I>",
        "<P>Men's Classic Crew Neck<BR>T-Shirt &amp; Cap Set, Sapphire</P>",
        "&lt;h1&gt;Men's Classic Crew Neck T-Shirt &amp; Cap Set, Sapphire&lt;/h1&gt;",
    ],
)
def test_copies_of_a_short_text_are_exact_duplicates(copy: str) -> None:
    original = product("A", SHORT, description="")
    result = last_of(original, product("B", copy, description=""))
    assert result == DedupResult(duplicate_of="A", similarity=1.0, kind="exact")


def test_numbers_are_not_run_together_by_the_exact_hash() -> None:
    assert last_of(product("A", "Rain Jacket, Age 7-8"), product("B", "Rain Jacket, Age 78")) == (
        DedupResult()
    )


# --- siblings are kept apart ---------------------------------------------------------------------

SIBLINGS = [
    # colour and finish names, common and uncommon
    ("Classic Tee, Midnight Black", "Classic Tee, Midnight Green"),
    ("Classic Tee, Sapphire", "Classic Tee, Emerald"),  # gemstones
    ("Classic Tee, Amethyst", "Classic Tee, Onyx"),
    ("Leather Belt, Burgundy", "Leather Belt, Merlot"),  # wines
    ("Leather Belt, Claret", "Leather Belt, Rosé"),
    ("Kettle 1.7 L, Brushed Chrome", "Kettle 1.7 L, Brushed Copper"),  # metals
    ("Watch Case, Gunmetal", "Watch Case, Titanium"),
    ("Beanie Hat – Mustard", "Beanie Hat – Paprika"),  # spices
    ("Toaster, Pistachio", "Toaster, Vanilla"),  # food
    ("Casserole Dish, Cherry", "Casserole Dish, Saffron"),
    ("Toaster, Matte Pistachio", "Toaster, Gloss Pistachio"),  # finish
    ("Mug, Speckled Heather", "Mug, Speckled Thistle"),  # names in no list
    ("Smartphone 128GB, Midnight Black", "Smartphone 128GB, Champagne Gold"),
    # model and series names
    ("Orbit X5 Smartphone", "Orbit X6 Smartphone"),
    ("Orbit X5 Smartphone", "Orbit X5 Pro Smartphone"),
    ("Aria Wireless Headphones", "Nova Wireless Headphones"),
    ("Aero 14 Laptop", "Aero 16 Laptop"),
    ("Silicone Case for Galaxy S24", "Silicone Case for Galaxy S24+"),
    ("Satin Lipstick No. 12", "Satin Lipstick No. 14"),
    ("Combi Drill TM-778", "Combi Drill TM-796"),
    # gendered words and connectors
    ("Men's Running Shoes", "Women's Running Shoes"),
    ("Boys' Rain Jacket", "Girls' Rain Jacket"),
    ("Ladies' Fleece Gilet", "Men's Fleece Gilet"),
    ("Waffle Bathrobe, His", "Waffle Bathrobe, Hers"),
    ("Eau de Parfum for Him", "Eau de Parfum for Her"),
    ("USB-C Male to Female Cable", "USB-C Male to Male Cable"),
    ("Jack Male-to-Female Adapter", "Jack Female-to-Male Adapter"),
    ("USB-A to USB-C Adapter", "USB-C to USB-A Adapter"),
    ("USB-A to USB-C Adapter", "USB-C to USB-C Adapter"),
    # one size or capacity token
    ("Memory Card 64GB", "Memory Card 128GB"),
    ("Power Bank 10000 mAh", "Power Bank 20,000 mAh"),
    ("Linen Shirt – M", "Linen Shirt – L"),
    ("Linen Shirt – Large", "Linen Shirt – Extra Large"),
    ("Duvet Cover, King", "Duvet Cover, Super King"),
    ("Running Shoes, Size 9", "Running Shoes, Size 10"),
    ("Ink Cartridge 302XL", "Ink Cartridge 302"),
    ("Trekker 2-Person Tent", "Trekker 3-Person Tent"),
    ("Alkaline Batteries AA", "Alkaline Batteries AAA"),
    ("Mature Cheddar 400 g", "Extra Mature Cheddar 400 g"),
]


@pytest.mark.parametrize(("first", "second"), SIBLINGS)
def test_siblings_are_kept_apart(first: str, second: str) -> None:
    # the same long copy: by its text alone the second would be a near-duplicate
    assert last_of(product("A", first), product("B", second)) == DedupResult()
    # short texts (the title only) and a perturbed copy of the sibling too
    short_a, short_b = product("A", first, description=""), product("B", second, description="")
    assert last_of(short_a, short_b) == DedupResult()
    copy = product("C", f"<b>{second.upper()}</b>", description="")
    assert last_of(short_a, copy) == DedupResult()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Flat Wiper Blade 24 in, Driver Side", "Flat Wiper Blade 24 in, Passenger Side"),
        ("Summer Tyre 205/55 R16, Road", "Winter Tyre 205/55 R16, Road"),
        ("Men's Running Shoes, Lime", "Women's Running Shoes, Lime"),
        ("Clear Case for Galaxy S24, Slim", "Clear Case for Galaxy S24 Ultra, Slim"),
    ],
)
def test_a_sibling_titled_by_another_seller_is_kept_apart(first: str, second: str) -> None:
    """More than one word apart: the sibling's words in another order, a selling phrase."""
    head, _, tail = second.rpartition(", ")
    reworded = f"Northfield {tail} {head} – UK Stock"
    assert last_of(product("A", first), product("B", reworded)) == DedupResult()


# --- rewordings of one title stay duplicates ----------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Tomato Feed Liquid Concentrate 1 L", "Northfield Tomato Feed Liquid Concentrate 1 Litre"),
        ("Fish, Blood & Bone Fertiliser 3.5 kg", "Fish Blood and Bone Fertiliser 3.5kg"),
        ("Anti-Bird Netting, Grey", "Anti-Bird Netting, Gray"),
        ("18V 4.0 Ah Lithium-Ion Battery", "18 V 4Ah Li-ion Battery"),
        ("Power Bank 10000 mAh", "Power Bank 10,000mAh"),
        ("Casserole Dish 24 cm, Cherry", "Casserole Dish 24 cm, Cherry Red"),
        ("Watering Can 9 L", "Watering Can 9 L – Free Delivery"),
        ("Harrow Sofa in Velvet, Olive", "Olive Harrow Sofa in Velvet"),
        ("Tomato Grow Bag 40 L", "Tomato Growbag 40 L"),
        ("Professional Bypass Secateurs", "Pro Bypass Secateurs"),
    ],
)
def test_rewordings_of_one_title_stay_duplicates(first: str, second: str) -> None:
    result = last_of(product("A", first), product("B", second))
    assert result.duplicate_of == "A", result


def test_a_short_description_reworded_under_the_same_title_is_a_near_duplicate() -> None:
    reworded = DESCRIPTION.replace("keeps", "holds").replace("Cut for", "Made for")
    reworded = reworded.replace("tumble dry low", "dry on low heat").replace("taped", "strong")
    reworded = reworded.replace("wash after wash", "through every wash")
    result = last_of(product("A", SHORT), product("B", SHORT.upper(), description=reworded))
    assert (result.duplicate_of, result.kind) == ("A", "near")
    without = last_of(
        product("A", SHORT),
        product("B", SHORT.upper(), description=reworded),
        rules=DedupRules(same_title=False),
    )
    assert without == DedupResult()  # the rule is what finds it


# --- a copy is linked to its true original -------------------------------------------------------

ORIGINAL = "Men's Classic Crew Neck T-Shirt, Sapphire, Size M"
SIBLING = "Men's Classic Crew Neck T-Shirt, Emerald, Size M"


@pytest.mark.parametrize("sibling_first", [True, False], ids=["sibling-first", "sibling-second"])
@pytest.mark.parametrize("kind", ["perturbed", "reworded"])
def test_a_copy_is_linked_to_its_original_not_to_its_sibling(
    tmp_path: Path, sibling_first: bool, kind: str
) -> None:
    state = tmp_path / "dedup.sqlite3"
    original, sibling = product("TEE-1", ORIGINAL), product("TEE-2", SIBLING)
    with Deduplicator(state) as dedup:
        for record in (sibling, original) if sibling_first else (original, sibling):
            assert dedup.check(record) == DedupResult()
    if kind == "perturbed":
        copy = product("COPY", f"<h1>{ORIGINAL.upper()}</h1>", description=f"<p>{DESCRIPTION}</p>")
    else:
        text = DESCRIPTION.replace("keeps", "holds").replace("Machine wash", "Wash")
        copy = product("COPY", f"Northfield {ORIGINAL} – UK Stock", description=text)
    with Deduplicator(state) as dedup:  # reopened: the features come back from the state file
        result = dedup.check(copy)
        assert result.duplicate_of == "TEE-1", result
        assert dedup.known("TEE-2") == "canonical"


def test_the_closest_title_wins_when_the_guard_lets_two_through(tmp_path: Path) -> None:
    """Two canonical siblings that a weaker guard no longer tells apart from the copy: the copy
    goes to the product whose title it has, even when the sibling's text is closer to it."""
    state = tmp_path / "dedup.sqlite3"
    reworded = DESCRIPTION.replace("keeps", "holds").replace("Machine wash", "Wash")
    original = product("A", "Classic Tee, Heather")
    sibling = product("B", "Classic Tee, Thistle", description=reworded)
    with Deduplicator(state) as dedup:  # the full guard: two products
        assert dedup.check(original) == dedup.check(sibling) == DedupResult()
    copy = product("C", "CLASSIC TEE, HEATHER", description=reworded)
    found = {}
    for rank in (True, False):
        rules = DedupRules(one_word=False, rank_by_title=rank)
        with Deduplicator(state, rules=rules) as dedup:
            found[rank] = dedup.check(copy).duplicate_of
            dedup.forget("C")
    assert found == {True: "A", False: "B"}


# --- the rules are what keep siblings apart ------------------------------------------------------


@pytest.mark.parametrize(
    ("off", "first", "second"),
    [
        ({"one_word"}, "Aria Wireless Headphones", "Nova Wireless Headphones"),
        ({"one_word", "numbers"}, "Aero 14 Laptop", "Aero 16 Laptop"),
        ({"one_word", "colours", "colour_presence"}, "Tee, Sapphire", "Tee, Emerald"),
        ({"one_word", "quantities"}, "Memory Card 64GB", "Memory Card 128GB"),
        ({"one_word", "connectors", "genders"}, "Male-to-Female Jack", "Female-to-Male Jack"),
        ({"one_word", "series"}, "Orbit X5 Phone", "Orbit X5 Pro Phone"),
    ],
)
def test_switching_a_rule_off_lets_its_siblings_merge(
    off: set[str], first: str, second: str
) -> None:
    rules = DedupRules(**dict.fromkeys(off, False))
    assert last_of(product("A", first), product("B", second), rules=rules).duplicate_of == "A"
    assert last_of(product("A", first), product("B", second)) == DedupResult()


# --- a state file from before the title key -----------------------------------------------------


def test_a_state_file_written_before_the_title_key_still_opens(tmp_path: Path) -> None:
    state = tmp_path / "dedup.sqlite3"
    with Deduplicator(state) as dedup:
        dedup.check(product("A", ORIGINAL))
    with sqlite3.connect(state) as db:  # as the previous version left it
        db.execute("DROP INDEX dedup_records_title")
        db.execute("ALTER TABLE dedup_records DROP COLUMN title_key")
    with Deduplicator(state) as dedup:
        assert len(dedup) == 1
        assert dedup.check(product("B", ORIGINAL.upper())).duplicate_of == "A"
