"""Deduplication: the same product arriving under two ids is indexed once.

`Deduplicator.check(record)` compares a record with every product seen before and answers a
`DedupResult`: not a duplicate, an exact duplicate, or a near-duplicate (with the id it
duplicates and the similarity). Re-checking an id that is already known is an update of that
product: its entry is replaced, it is never a duplicate of itself.

Signature: title, brand, description and attributes as plain text (`plain_text`: markup
stripped, HTML entities resolved even when mis-cased (`&Amp;`, `&NBSP;`) or escaped twice,
NFKC), folded (`fold`: casefold; accents, apostrophes, soft hyphens and thousands separators
dropped; `&` read as "and", `×` as "x", a word-final `+` as "plus"), URLs stripped of tracking
parameters, boilerplate ("free shipping", "add to cart") dropped (a description's sentence, or
the phrase in a one-line field), cut into word tokens.

- exact: sha256 of the signature's characters with every space and punctuation mark taken out
  (a space kept between two numbers), so case, punctuation, whitespace, entities and markup
  never keep two copies of one short text apart (short titles give MinHash too few shingles);
  or equal GTIN/EAN/UPC attributes whatever the text. The same characters are never variants:
  no guard on this path.
- near: MinHash of word 3-gram shingles (taken within each sentence and attribute, so reordered
  sentences or attributes change nothing), candidates from LSH band buckets (the bands
  datasketch's `MinHashLSH(threshold)` chooses, kept in sqlite: the same candidates), confirmed
  by the estimated Jaccard similarity >= threshold; records with one brand and the same title
  words (`title_key`, an indexed column) from `threshold - SAME_TITLE_MARGIN` (a short
  description reworded).
- variant guard (`variants_conflict`): two records whose variant-defining features differ are
  never duplicates, whatever their text. From the title (brand removed) and size-like
  attributes (not the description, which mentions dilutions and other sizes), one rule each
  (`DedupRules`): sizes and quantities with units (40 L, 2.5 kg, 128GB, 10,000 mAh), pack
  counts ("pack of 6", "3 × 50 L"; no pack means 1), colour and finish names (common ones and
  the gemstone, wine, metal, wood, spice and food names shops use), materials, kit/body-only,
  series words (Pro, Ultra, S24+), each `X to Y` in order (USB-A to USB-C, male-to-female),
  the title's other numbers (Aero 14 vs Aero 16: each has one the other lacks), GTIN/SKU/MPN
  attributes; and two titles one word apart (`one_word_apart`: a word swapped for another, or
  for a few, that is no spelling of it; a series or size word added) are variants, whatever the
  word: a colour or model name in no list (Heather, Nova, Passenger Side) too. A feature counts
  only when both records carry it, except a colour (a shop names colours when a product comes
  in several) and the series words. Off by default, for raising no cross-validated score: model
  codes, gendered words, size words, variant attributes (flavour, scent...).
- linking: exact matches first (GTIN, then the folded hash); of the near candidates the guard
  lets through, the most similar wins (`rank_by_title`, off by default, puts the closest title
  first), so a copy is linked to its original, not to the sibling the guard keeps apart.

`DedupRules` switches the rules one at a time; `make eval-dedup`
(`tests/benchmarks/eval_dedup_cv.py`) cross-validates them and the threshold on the labelled
pairs of `tests/unit/dedup/`.

State survives restarts: a sqlite file (table `dedup_records`: id -> exact hash, MinHash bytes,
variant features, GTIN, duplicate_of) is the source of truth; table `dedup_bands` (band, 64-bit
digest of the band's values, id; one row per band of each canonical record) is the LSH index,
written in the same transaction as the record, and rebuilt from `dedup_records` on open when it
was built for other bands (another threshold; `dedup_meta.lsh_bands` names them) or is missing
(a state file from before it existed). Only canonical records (not duplicates) are candidates,
so a chain of rewordings never drifts away from the product it started from; `forget(id)`
removes a deleted product. Records
stored by a version before the folded exact hash keep their old hash: a copy of one is found as
a near-duplicate until the product is published again.

Scaling to millions of records (target 5M): nothing grows in the Python heap.
- exact, GTIN and title look-ups are indexed sqlite queries;
- MinHash signatures are stored in sqlite and read back only for candidates;
- the LSH buckets are rows of `dedup_bands` (WITHOUT ROWID, keyed by band, digest, id): a check
  is one indexed query (a UNION of its b band look-ups), b inserts, and on an update or `forget`
  b deletes recomputed from the stored signature (no index on id). On disk, measured at 100,000
  records: b rows of ~25 bytes per canonical record (16 bands at threshold 0.7: ~0.4 KB, ~2 GB
  for 5M) beside ~0.8 KB in `dedup_records`; in memory only sqlite's bounded page cache.
  `make bench-prepare` measures the heap and the checks per second;
- one commit per check (WAL, synchronous=NORMAL: durable across a crash of the process);
- opening with another threshold, or a state file from before `dedup_bands`, rebuilds the table
  in one streamed pass (minutes for 5M rows); `dedup_records` stays the source of truth.

Errors: `DedupStateError` (an `IngestError`) when the state file was written with other
MinHash settings (it would silently compare incomparable signatures).
"""

from __future__ import annotations

import hashlib
import html.entities
import json
import re
import sqlite3
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
from datasketch import MinHash, MinHashLSH

from ingest.core.text import clean_text
from ingest.errors import IngestError
from schemas.models import ProductRecord

DEFAULT_THRESHOLD = 0.7
"""Estimated Jaccard similarity of shingle sets from which two records are near-duplicates."""
DEFAULT_NUM_PERM = 128
"""MinHash permutations: more is a finer estimate, fewer is a smaller index."""
SHINGLE_SIZE = 3
"""Words per shingle."""
SAME_TITLE_MARGIN = 0.2
"""How much lower the similarity of two records with one brand and title may be."""
_SCHEME: Literal["affine32"] = "affine32"
_LSH_WEIGHTS = (0.3, 0.7)
_DTYPE = np.uint32

Features = dict[str, frozenset[str]]
"""Variant-defining features: dimension (`volume`, `pack`, `colour`, `gtin`...) -> values."""


class DedupStateError(IngestError):
    """The dedup state file cannot be used with these settings."""


@dataclass(frozen=True, kw_only=True)
class DedupResult:
    """What `Deduplicator.check` found for one record."""

    duplicate_of: str | None = None
    """Id of the product this record duplicates; None when it is not a duplicate."""
    similarity: float | None = None
    """1.0 for an exact duplicate, the estimated Jaccard similarity for a near one."""
    kind: Literal["exact", "near"] | None = None
    """How the duplicate was found."""

    @property
    def is_duplicate(self) -> bool:
        return self.duplicate_of is not None


UNIQUE = DedupResult()


@dataclass(frozen=True, kw_only=True)
class DedupRules:
    """Which rules of the variant guard apply, and how candidates are ranked. On by default: the
    rules `make eval-dedup`'s cross-validation keeps (switching each off lowered the held-out
    score); off: those that raised no held-out score (what they catch, `one_word`, `numbers` and
    `connectors` catch too), kept to be measured again as the labelled set grows."""

    quantities: bool = True
    """Sizes and quantities with units (title and size-like attributes) must match."""
    packs: bool = True
    """Pack counts must match."""
    colours: bool = True
    """Colour and finish names must match when both records name one."""
    colour_presence: bool = True
    """A record naming a colour is not a duplicate of one naming none."""
    materials: bool = True
    """Materials named in the title must match."""
    configs: bool = True
    """Kit vs body only."""
    models: bool = False
    """Model codes (X5, TM-778, No. 3) must match."""
    series: bool = True
    """Series words (Pro, Max, Mini, Ultra, Extra) must match, also when one title has none."""
    genders: bool = False
    """Gendered words, in order (men's/women's, male-to-female), must match."""
    connectors: bool = True
    """Each `X to Y` (USB-A to USB-C, male to female), in order, must match."""
    size_words: bool = False
    """Size words (XS...XXL, small/medium/large, single/double/king) must match."""
    numbers: bool = True
    """Two titles each holding a number the other lacks (Aero 14 vs Aero 16) are variants."""
    one_word: bool = True
    """Two titles that differ in one word only (or by an added series word) are variants."""
    options: bool = False
    """Variant attributes (flavour, scent, finish, shade, style, edition, gender, fit) must
    match."""
    identifiers: bool = True
    """GTIN, SKU and MPN attributes must match."""
    rank_by_title: bool = False
    """Of several candidates, the closest title wins before the highest similarity."""
    same_title: bool = True
    """Records with one brand and title (`title_words`) are near-duplicates from a similarity of
    `threshold - SAME_TITLE_MARGIN` (a short description reworded), found by an indexed query."""


DEFAULT_RULES = DedupRules()

# --- normalisation -----------------------------------------------------------------------------

_TRACKING_PARAMS = frozenset(
    {"gclid", "gbraid", "wbraid", "dclid", "fbclid", "msclkid", "yclid", "twclid", "ttclid"}
    | {"igshid", "mc_cid", "mc_eid", "_ga", "_gl", "srsltid", "spm", "ref", "ref_", "referrer"}
    | {"affiliate", "aff_id", "campaign", "cmp", "source", "sessionid", "sid", "trk", "zanpid"}
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "oly_")
_URL = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)
_BOILERPLATE = re.compile(
    r"free (uk |eu )?(shipping|delivery|returns)|add to (cart|basket|bag|wish ?list)|buy now"
    r"|order (now|today)|shop now|in stock now|click (here|to)|next[- ]day delivery"
    r"|dispatched within|ships within|(30|14|60|90)[- ]day returns|money[- ]back"
    r"|sign up|newsletter|subscribe|best price|lowest price|limited (time )?offer"
    r"|customer reviews|write a review|see (all )?reviews|share this|secure checkout"
    r"|\bsale\b|\bdeal of the day\b|\bwhile stocks last\b|\bbestseller\b",
    re.IGNORECASE,
)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?;])\s+|\n+|\s+[-•*|]\s+|^[-•*]\s+")
_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+")
_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]{1,31});")
_MARKUP_LEFT = re.compile(r"&[#A-Za-z0-9]+;|<[a-zA-Z/!]")
_APOSTROPHES = re.compile(r"['’‘ʼ`´]")
_INCH_MARK = re.compile(r"(\d)\s?(?:\"|”|″|'')")
_PLUS = re.compile(r"(?<=[^\W_])\+(?![^\W_])")
"""A `+` ending a word (Galaxy S24+, Ages 6+) is read as "plus"."""
_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,]|\.\d)")
_INVISIBLE = frozenset("\u00ad\u2060\u180e\u200b\u200c\u200d\ufeff")


def normalise_url(url: str) -> str:
    """URL without tracking parameters or fragment, host lowercased, query sorted."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if _kept(k)]
    path = parts.path.rstrip("/") or "/"
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), path, urlencode(sorted(query)), "")
    )


def _kept(param: str) -> bool:
    name = param.lower()
    return name not in _TRACKING_PARAMS and not name.startswith(_TRACKING_PREFIXES)


def _entity_any_case(match: re.Match[str]) -> str:
    """`&Amp;` -> `&amp;`: an entity name the HTML spec only knows in another case."""
    name = match.group(1)
    if f"{name};" in html.entities.html5:
        return match.group(0)
    lower = name.lower()
    return f"&{lower};" if f"{lower};" in html.entities.html5 else match.group(0)


def plain_text(text: str) -> str:
    """Text without markup or entities, NFKC-normalised; entity names in any case, and markup or
    entities escaped once more (`&amp;amp;`, `&lt;b&gt;`) resolved too."""
    for _ in range(3):
        cleaned = clean_text(_ENTITY.sub(_entity_any_case, text))
        if cleaned == text or not _MARKUP_LEFT.search(cleaned):
            return cleaned
        text = cleaned
    return text


def fold(text: str) -> str:
    """Plain text casefolded, accents, apostrophes, soft hyphens and thousands separators
    dropped (10,000 = 10000), `&` as "and", `×` as "x", `"` after a number as "in", a `+`
    ending a word as "plus"."""
    text = unicodedata.normalize("NFKD", plain_text(text).casefold())
    text = "".join(c for c in text if not unicodedata.combining(c) and c not in _INVISIBLE)
    text = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _INCH_MARK.sub(r"\1 in", text).replace("×", " x ").replace("&", " and ")
    text = _PLUS.sub(" plus", text)
    return _APOSTROPHES.sub("", text)


def _sentences(text: str, *, one_line: bool = False) -> Iterator[str]:
    """Folded sentences of `text`, boilerplate dropped, URLs normalised; a one-line field
    (title, brand, attribute) keeps no line break that markup or a stray newline put in it."""
    text = _URL.sub(lambda m: normalise_url(m.group(0)), fold(text))
    if one_line:  # "... 1 L – Free Delivery": the phrase goes, the title stays
        yield " ".join(_BOILERPLATE.sub(" ", text).split())
        return
    for sentence in _SENTENCE_SPLIT.split(text):
        if sentence.strip() and not _BOILERPLATE.search(sentence):
            yield sentence


def _words(text: str) -> list[str]:
    return [w.replace(",", ".") for w in _WORD.findall(text)]


def signature_sentences(record: ProductRecord) -> list[list[str]]:
    """The record as word lists: title, brand, each description sentence, each attribute."""
    parts = [record.title, record.brand or ""]
    parts += [
        f"{key.replace('_', ' ')} {value}" for key, value in sorted(record.attributes.items())
    ]
    lines = [_words(s) for part in parts for s in _sentences(part, one_line=True)]
    lines += [_words(s) for s in _sentences(record.description)]
    return [line for line in lines if line]


def exact_hash(sentences: list[list[str]]) -> str:
    """sha256 of the signature's characters, spaces and punctuation taken out (a space kept
    between two numbers: "2 5" is not "25"); word order kept, so a reorder is near, not exact."""
    body: list[str] = []
    for word in (w for words in sentences for w in words):
        if body and body[-1][-1].isdigit() and word[0].isdigit():
            body.append(" ")
        body.append(word)
    return hashlib.sha256("".join(body).encode("utf-8")).hexdigest()


def shingles(sentences: list[list[str]], size: int = SHINGLE_SIZE) -> set[str]:
    """Word n-grams within each sentence; a sentence shorter than `size` is one shingle."""
    out: set[str] = set()
    for words in sentences:
        if len(words) <= size:
            out.add(" ".join(words))
            continue
        out.update(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))
    return out


# --- variant features --------------------------------------------------------------------------

_UNITS: dict[str, tuple[str, Decimal]] = {
    **dict.fromkeys(("l", "ltr", "litre", "litres", "liter", "liters"), ("volume", Decimal(1))),
    **dict.fromkeys(("ml", "millilitre", "millilitres"), ("volume", Decimal("0.001"))),
    **dict.fromkeys(("cl",), ("volume", Decimal("0.01"))),
    **dict.fromkeys(("floz", "oz"), ("ounces", Decimal(1))),
    **dict.fromkeys(("gal", "gallon", "gallons"), ("gallons", Decimal(1))),
    **dict.fromkeys(("kg", "kgs", "kilo", "kilos", "kilogram", "kilograms"), ("mass", Decimal(1))),
    **dict.fromkeys(("g", "gram", "grams", "gr"), ("mass", Decimal("0.001"))),
    **dict.fromkeys(("lb", "lbs"), ("pounds", Decimal(1))),
    **dict.fromkeys(("m", "metre", "metres", "meter", "meters"), ("length", Decimal(1))),
    **dict.fromkeys(("cm", "centimetre", "centimetres"), ("length", Decimal("0.01"))),
    **dict.fromkeys(("mm", "millimetre", "millimetres"), ("length", Decimal("0.001"))),
    **dict.fromkeys(("ft", "feet", "foot"), ("feet", Decimal(1))),
    **dict.fromkeys(("in", "inch", "inches"), ("inch", Decimal(1))),
    **dict.fromkeys(("m²", "m2", "sqm"), ("area", Decimal(1))),
    **dict.fromkeys(("m³", "m3"), ("volume", Decimal(1000))),
    **dict.fromkeys(("v", "volt", "volts"), ("voltage", Decimal(1))),
    **dict.fromkeys(("w", "watt", "watts"), ("power", Decimal(1))),
    **dict.fromkeys(("kw",), ("power", Decimal(1000))),
    **dict.fromkeys(("ah",), ("charge", Decimal(1))),
    **dict.fromkeys(("mah",), ("charge", Decimal("0.001"))),
    **dict.fromkeys(("kb",), ("data", Decimal("0.000001"))),
    **dict.fromkeys(("mb",), ("data", Decimal("0.001"))),
    **dict.fromkeys(("gb",), ("data", Decimal(1))),
    **dict.fromkeys(("tb",), ("data", Decimal(1000))),
    **dict.fromkeys(("hz",), ("frequency", Decimal(1))),
    **dict.fromkeys(("khz",), ("frequency", Decimal(1000))),
    **dict.fromkeys(("mhz",), ("frequency", Decimal(1000000))),
    **dict.fromkeys(("ghz",), ("frequency", Decimal(1000000000))),
    **dict.fromkeys(("mp", "megapixel", "megapixels"), ("megapixels", Decimal(1))),
    **dict.fromkeys(("cc",), ("displacement", Decimal(1))),
    **dict.fromkeys(("bar",), ("pressure", Decimal(1))),
    **dict.fromkeys(("gsm",), ("grammage", Decimal(1))),
    **dict.fromkeys(("tog",), ("tog", Decimal(1))),
    **dict.fromkeys(("ply",), ("ply", Decimal(1))),
    **dict.fromkeys(("seed", "seeds"), ("seeds", Decimal(1))),
    **dict.fromkeys(("tine", "tines", "teeth", "tooth"), ("tines", Decimal(1))),
    **dict.fromkeys(("tier", "tiers", "shelf", "shelves"), ("tiers", Decimal(1))),
    **dict.fromkeys(("larva", "larvae", "nematodes"), ("organisms", Decimal(1))),
    **dict.fromkeys(("setting", "settings", "nozzle", "nozzles"), ("settings", Decimal(1))),
    **dict.fromkeys(("bed", "beds", "plant", "plants"), ("capacity_count", Decimal(1))),
    **dict.fromkeys(("seater", "seaters", "seat", "seats"), ("seats", Decimal(1))),
    **dict.fromkeys(("slice", "slices"), ("slices", Decimal(1))),
    **dict.fromkeys(("%",), ("percent", Decimal(1))),
}
_UNIT_WORDS = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
_NUMBER = r"\d+(?:[.,]\d+)?"
_QUANTITY = re.compile(rf"(?<![\w.])({_NUMBER})\s?-?({_UNIT_WORDS})(?![\w²³])")
_DIMENSIONS = re.compile(
    rf"(?<![\w.])({_NUMBER})\s?[x×*]\s?({_NUMBER})(?:\s?[x×*]\s?({_NUMBER}))?\s?-?({_UNIT_WORDS})(?![\w²³])"
)
_PACK = re.compile(
    r"\bpack of (\d+)\b|\b(\d+)[- ]?(?:pack|pk|pcs|pieces|piece|count|ct)\b"
    r"|\bset of (\d+)\b|\bmulti-?pack of (\d+)\b|\bbox of (\d+)\b",
)
_PACK_WORDS = {"twin pack": "2", "twinpack": "2", "triple pack": "3", "pair": "2"}


def _lexicon(text: str) -> frozenset[str]:
    return frozenset(text.split())


_COLOURS = (
    # common and named colours
    _lexicon(
        "black white red green blue yellow orange purple pink grey gray brown silver gold beige"
        " cream charcoal anthracite navy olive lilac turquoise teal coral ivory lavender magenta"
        " fuchsia indigo violet maroon crimson scarlet cyan aqua azure cobalt khaki tan taupe mauve"
        " ochre rust sand stone slate graphite oatmeal blush nude ecru mustard lime mint burgundy"
        " multicolour multicolor"
    )
    # gemstones
    | _lexicon(
        "sapphire emerald ruby onyx topaz amethyst opal jade pearl garnet peridot aquamarine"
        " citrine tanzanite moonstone obsidian quartz amber jet"
    )
    # wines
    | _lexicon("merlot bordeaux claret champagne rose cabernet shiraz sherry prosecco sangria")
    # metals
    | _lexicon("chrome brass copper bronze pewter nickel titanium platinum gunmetal rosegold")
    # spices and food
    | _lexicon(
        "cinnamon saffron paprika mocha espresso caramel chocolate honey vanilla pistachio cherry"
        " lemon plum peach apricot raspberry strawberry blueberry cranberry berry mango banana"
        " coconut latte cocoa cappuccino toffee butterscotch ginger nutmeg turmeric chilli cayenne"
        " matcha sage rosemary aubergine avocado pumpkin almond hazelnut chestnut truffle melon"
        " watermelon tangerine grape fig biscuit cappucino"
    )
    # finishes and woods
    | _lexicon(
        "matte matt gloss glossy satin brushed polished silk eggshell lacquered antique distressed"
        " hammered frosted metallic pearlescent iridescent oiled oak walnut ash beech pine maple"
        " birch teak mahogany acacia bamboo rosewood ebony elm"
    )
)
_MATERIALS = (
    {w: w for w in ["stainless", "carbon", "polycarbonate", "glass", "plastic", "terracotta"]}
    | {w: w for w in ["copper", "brass", "ceramic", "resin", "rubber", "pvc"]}
    | {"aluminum": "aluminium", "aluminium": "aluminium", "wooden": "wood", "wood": "wood"}
)
_MATERIALS |= {"galvanised": "galvanised", "galvanized": "galvanised"}
_CONFIG = {"body only": "body-only", "bare tool": "body-only", "tool only": "body-only"} | {
    "kit": "kit",
    "with batteries": "kit",
    "with battery": "kit",
}
_GENDERS = (
    dict.fromkeys(("men", "mens", "man", "mans", "gents", "gentlemens"), "men")
    | dict.fromkeys(("women", "womens", "woman", "womans", "ladies", "lady", "ladys"), "women")
    | dict.fromkeys(("male", "males"), "male")
    | dict.fromkeys(("female", "females"), "female")
    | dict.fromkeys(("boy", "boys"), "boys")
    | dict.fromkeys(("girl", "girls"), "girls")
    | dict.fromkeys(("his", "him"), "his")
    | dict.fromkeys(("hers", "her"), "hers")
    | dict.fromkeys(("unisex",), "unisex")
    | dict.fromkeys(("kids", "kid", "children", "childrens", "junior", "juniors"), "kids")
)
_SIZE_WORDS = _lexicon(
    "xxs xs s m l xl xxl xxxl 2xl 3xl 4xl 5xl small medium large petite single double king"
    " queen superking"
)
_LETTER_SIZES = _lexicon("s m l")
_SIZE_PHRASES = {"extra large": "xl", "x-large": "xl", "xx-large": "xxl", "extra small": "xs"}
_SIZE_PHRASES |= {"x-small": "xs", "super king": "superking", "super-king": "superking"}
_SIZE_PHRASE = re.compile("|".join(rf"\b{re.escape(p)}\b" for p in _SIZE_PHRASES))
_SERIES_WORDS = _lexicon(
    "pro max plus ultra mini lite air se neo prime slim compact deluxe elite turbo duo extra"
)
_MODEL = re.compile(r"\b(?:no\.?|nr\.?|number|mk|type|series|gen|version|model)\s?(\d+[a-z]?)\b")
_TOKEN = re.compile(r"[^\W_]+(?:-[^\W_]+)*")
_QUANTITY_LIKE = re.compile(r"\d+(?:[.,]\d+)?-?[^\W\d_]{1,8}")
_SIZE_KEYS = re.compile(
    r"volume|weight|size|capacity|pack|quantity|count|colou?r|length|width|dimension|contents"
    r"|storage|memory|ram|diameter|height|depth|wattage|voltage"
)
_OPTION_KEYS = re.compile(r"flavou?r|scent|finish|shade|style|pattern|edition|gender|variant|fit")
_ID_KEYS = {"gtin": "gtin", "gtin8": "gtin", "gtin12": "gtin", "gtin13": "gtin", "gtin14": "gtin"}
_ID_KEYS |= {"ean": "gtin", "ean13": "gtin", "upc": "gtin", "isbn": "gtin"}
_ID_KEYS |= {
    "sku": "sku",
    "mpn": "mpn",
    "model": "mpn",
    "model_number": "mpn",
    "part_number": "mpn",
}
_RULE_OF = {
    "pack": "packs",
    "colour": "colours",
    "material": "materials",
    "config": "configs",
    "model": "models",
    "series": "series",
    "gender": "genders",
    "direction": "connectors",
    "size": "size_words",
    "gtin": "identifiers",
    "sku": "identifiers",
    "mpn": "identifiers",
}
"""Rule of each feature dimension; `option:*` is `options`, any other (volume, attr:*,
size:length...) is `quantities`."""
_TITLE = "title"
_NUMBERS = "numbers"
_SPECIAL = (_TITLE, _NUMBERS, "colour", "series")


def variant_features(record: ProductRecord) -> Features:
    """The features that tell variants apart, from the title and size-like attributes.

    Title features and attribute features are kept apart (`volume` vs `attr:volume`): a source
    without attributes then still compares by its title. `title` holds the title's words (brand
    and filler words removed) as one value, for `one_word_apart`.
    """
    features: dict[str, set[str]] = {"pack": set()}
    title = title_text(record)
    _text_features(title, features)
    if not features["pack"]:
        features["pack"].add("1")
    features[_TITLE] = {" ".join(title_words(title))}
    attributes: dict[str, set[str]] = {}
    for key, value in record.attributes.items():
        name = key.lower().replace("-", "_").replace(" ", "_")
        if name in _ID_KEYS:
            features.setdefault(_ID_KEYS[name], set()).add(_identifier(value, _ID_KEYS[name]))
        elif "colo" in name:
            colours = {_SPELLINGS.get(w, w) for w in set(_words(fold(value))) & _COLOURS}
            features.setdefault("colour", set()).update(colours or {" ".join(fold(value).split())})
        elif _SIZE_KEYS.search(name):
            _attribute_features(name, " ".join(fold(value).split()), attributes)
        elif _OPTION_KEYS.search(name):
            features[f"option:{name}"] = {" ".join(_words(fold(value)))}
    features |= {f"attr:{k}": v for k, v in attributes.items()}
    return {k: frozenset(v) for k, v in features.items() if v}


def title_text(record: ProductRecord) -> str:
    """The folded title on one line, the brand's name (its first mention) taken out."""
    title = " ".join(fold(record.title).split())
    brand = _TOKEN.findall(fold(record.brand or ""))
    if brand:
        pattern = r"\b" + r"\W+".join(re.escape(w) for w in brand) + r"\b"
        title = " ".join(re.sub(pattern, " ", title, count=1).split())
    return title


def _attribute_features(name: str, value: str, features: dict[str, set[str]]) -> None:
    if "pack" in name or name in ("quantity", "count"):
        bare = re.fullmatch(r"(\d+)(?:\s+[^\W\d_]+)?", value)
        if bare and bare.group(0).split()[-1] not in _UNITS:
            features.setdefault("pack", set()).add(bare.group(1))
            return
    text = _DIMENSIONS.sub(lambda m: _add_dimensions(m, features), value)
    first = _QUANTITY.search(text)  # "2 kg (approx. 25 tubers)": the first quantity is the size
    if first:
        _add_quantity(first.group(1), first.group(2), features)


def _text_features(title: str, features: dict[str, set[str]]) -> None:
    rest = _DIMENSIONS.sub(lambda m: _add_dimensions(m, features), title)
    rest = _QUANTITY.sub(lambda m: _add_quantity(m.group(1), m.group(2), features), rest)
    for match in _PACK.finditer(rest):
        features["pack"].add(next(g for g in match.groups() if g))
    rest = _PACK.sub(" ", rest)
    for phrase, count in _PACK_WORDS.items():
        if re.search(rf"\b{phrase}\b", title):
            features["pack"].add(count)
    words = set(_words(title))
    tokens = _TOKEN.findall(rest)
    _add_words("colour", {_SPELLINGS.get(w, w) for w in words & _COLOURS}, features)
    _add_words("material", {_MATERIALS[w] for w in words & _MATERIALS.keys()}, features)
    _add_words("config", {v for k, v in _CONFIG.items() if re.search(rf"\b{k}\b", title)}, features)
    _add_words("model", set(_MODEL.findall(title)) | _codes(tokens), features)
    _add_words("series", {_SPELLINGS.get(w, w) for w in words} & _SERIES_WORDS, features)
    _add_words("size", _size_words(tokens), features)
    _add_words("gender", _genders(title), features)
    _add_words("direction", _directions(title), features)
    _add_words(_NUMBERS, {_number(w) for w in _words(rest) if w[0].isdigit()}, features)


def _codes(tokens: list[str]) -> set[str]:
    """Model-code-like tokens: letters and digits mixed (x5, tm-778, u3), not a number and a
    unit or count word (128gb, 4-slice), which the quantities and numbers rules compare."""
    return {
        t.replace("-", "")
        for t in tokens
        if re.search(r"\d", t) and re.search(r"[^\W\d_]", t) and not _QUANTITY_LIKE.fullmatch(t)
    }


def _size_words(tokens: list[str]) -> set[str]:
    """Size words; a bare S, M or L only when no number stands before it (40 l is a volume)."""
    tokens = _SIZE_PHRASE.sub(lambda m: _SIZE_PHRASES[m.group(0)], " ".join(tokens)).split()
    out = set()
    for i, token in enumerate(tokens):
        if token in _LETTER_SIZES and i > 0 and tokens[i - 1][-1].isdigit():
            continue
        if token in _SIZE_WORDS:
            out.add(token)
    return out


def _genders(title: str) -> set[str]:
    """The gendered words in order, as one value: `male>female` is not `female>male`."""
    found = [_GENDERS[w] for w in _words(title) if w in _GENDERS]
    ordered = [g for i, g in enumerate(found) if i == 0 or g != found[i - 1]]
    return {">".join(ordered)} if ordered else set()


def _directions(title: str) -> set[str]:
    """Each `X to Y` in order (USB-A to USB-C is not USB-C to USB-A)."""
    words = _words(_LETTER_HYPHEN.sub("", title))
    return {f"{words[i - 1]}>{words[i + 1]}" for i in range(1, len(words) - 1) if words[i] == "to"}


def _add_dimensions(match: re.Match[str], features: dict[str, set[str]]) -> str:
    """`3 × 50 l` is a pack of 3 of 50 l; `2 × 5 m` is a 2 by 5 m size."""
    numbers = [n for n in match.group(1, 2, 3) if n]
    dimension, _ = _UNITS[match.group(4)]
    if dimension in ("length", "feet", "inch") or len(numbers) == 3:
        key = f"size:{dimension}"
        features.setdefault(key, set()).add("x".join(_number(n) for n in numbers))
        return " "
    features.setdefault("pack", set()).add(_number(numbers[0]))
    return f" {numbers[1]} {match.group(4)} "


def _add_words(name: str, values: Iterable[str], features: dict[str, set[str]]) -> None:
    values = set(values)
    if values:
        features.setdefault(name, set()).update(values)


def _add_quantity(number: str, unit: str, features: dict[str, set[str]]) -> str:
    dimension, scale = _UNITS[unit]
    features.setdefault(dimension, set()).add(_number(number, scale))
    return " "


def _number(text: str, scale: Decimal = Decimal(1)) -> str:
    """`2,50` -> `2.5`; `4.0` -> `4`; scaled to the dimension's base unit."""
    try:
        return f"{(Decimal(text.replace(',', '.')) * scale).normalize():f}"
    except InvalidOperation:
        return text


def _identifier(value: str, kind: str) -> str:
    if kind == "gtin":
        digits = re.sub(r"\D", "", value)
        return digits.lstrip("0") or digits
    return re.sub(r"[\s\-_./]", "", value).lower()


# --- the guard ---------------------------------------------------------------------------------

_FILLER = _lexicon("a an the and with for of in on by x to new")
"""Words that never make a variant ("in" and "x" of sizes are read by the quantities rule)."""
_SPELLINGS = {
    "color": "colour",
    "gray": "grey",
    "aluminum": "aluminium",
    "tire": "tyre",
    "center": "centre",
    "professional": "pro",
    "matte": "matt",
}
_UNIT_NAMES = {u: f"{dim}:{scale}" for u, (dim, scale) in _UNITS.items()}
_LETTER_HYPHEN = re.compile(r"(?<=\b[^\W\d_])-(?=[^\W_])|(?<=[^\W_])-(?=[^\W\d_]\b)")
_VARIANT_WORDS = _COLOURS | _GENDERS.keys() | _SIZE_WORDS | _SERIES_WORDS


def title_words(title: str) -> list[str]:
    """The title's words for comparing two titles: filler dropped, units and spellings made one
    (`litre` = `l`, `grey` = `gray`), a plural's `s` dropped, a single letter kept with the word
    it is hyphenated to (usb-a, t-shirt: that `a` is no article)."""
    title = _LETTER_HYPHEN.sub("", _SIZE_PHRASE.sub(lambda m: _SIZE_PHRASES[m.group(0)], title))
    return [_stem(w) for w in _words(title) if w not in _FILLER]


def _stem(word: str) -> str:
    word = _UNIT_NAMES.get(word) or _SPELLINGS.get(word) or _GENDERS.get(word) or word
    if word in _VARIANT_WORDS:
        return word
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss") and word.isalpha():
        return word[:-1]
    return word


def one_word_apart(a: str, b: str) -> bool:
    """Two titles (as `title_words`, space-joined) one word apart: a word of one title that the
    other lacks, in its place another word or a few (Driver Side vs Passenger Side - UK Stock),
    none of them a spelling of it (a typo, an abbreviation, the same letters split: growbag,
    grow bag); or a series or size word added (X5 Pro, 302 XL)."""
    if not a or not b or a.replace(" ", "") == b.replace(" ", ""):
        return False
    words_a, words_b = a.split(), b.split()
    only_a = list((Counter(words_a) - Counter(words_b)).elements())
    only_b = list((Counter(words_b) - Counter(words_a)).elements())
    if len(only_a) + len(only_b) == 1:
        return (only_a or only_b)[0] in _SERIES_WORDS | _SIZE_WORDS
    if len(only_a) == 1 and only_b:
        return _replaced(only_a[0], only_b, words_b)
    if len(only_b) == 1 and only_a:
        return _replaced(only_b[0], only_a, words_a)
    return False


def _replaced(word: str, others: list[str], other_title: list[str]) -> bool:
    """`word` is gone from the other title, and none of the words there instead spells it."""
    if any(_spellings_of_one_word(word, other) for other in others):
        return False
    joined = {"".join(other_title[i : i + n]) for n in (2, 3) for i in range(len(other_title))}
    return word not in joined


def _spellings_of_one_word(a: str, b: str) -> bool:
    """An abbreviation (li, lithium), or a typo in a longer word; never two variant words."""
    if not (a.isalpha() and b.isalpha()) or {a, b} & _VARIANT_WORDS:
        return False
    short, long = sorted((a, b), key=len)
    if len(short) >= 2 and len(long) >= 5 and long.startswith(short):
        return True
    return len(short) >= 5 and _edit_distance_is_one(a, b)


def _edit_distance_is_one(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def variants_conflict(a: Features, b: Features, rules: DedupRules = DEFAULT_RULES) -> bool:
    """True when the records are different products of one line.

    A feature both records carry differs (sizes, packs, `X to Y`...); each names a colour the
    other lacks, or only one names a colour (a shop names colours when a product comes in
    several); the series words differ, also when only one title has one; each title has a
    number the other lacks; or the titles are one word apart (`one_word_apart`). `rules`
    switches rules off one at a time.
    """
    on = {name for name, value in vars(rules).items() if value}
    if _colour_conflict(a, b, on):
        return True
    if "numbers" in on and _each_has_its_own(a.get(_NUMBERS), b.get(_NUMBERS)):
        return True
    if "one_word" in on and one_word_apart(_title_of(a), _title_of(b)):
        return True
    if "series" in on and a.get("series") != b.get("series"):
        return True
    shared = (a.keys() & b.keys()) - set(_SPECIAL)
    return any(a[d] != b[d] for d in shared if _rule_of(d) in on)


def _rule_of(dimension: str) -> str:
    if dimension.startswith("option:"):
        return "options"
    return _RULE_OF.get(dimension, "quantities")


def _colour_conflict(a: Features, b: Features, on: set[str]) -> bool:
    """Both name colours and each names one the other lacks (cherry vs cherry red is one
    colour, written more fully); or only one names a colour at all."""
    if a.get("colour") and b.get("colour"):
        return "colours" in on and _lacks_colour(a, b) and _lacks_colour(b, a)
    return "colour_presence" in on and (_lacks_colour(a, b) or _lacks_colour(b, a))


def _lacks_colour(a: Features, b: Features) -> bool:
    """`a` names a colour that `b` does not, not even inside a longer word (goldplated)."""
    missing = a.get("colour", frozenset()) - b.get("colour", frozenset())
    letters = _title_of(b).replace(" ", "")
    return any(colour not in letters for colour in missing)


def _each_has_its_own(a: frozenset[str] | None, b: frozenset[str] | None) -> bool:
    return bool(a and b and a - b and b - a)


def _title_of(features: Features) -> str:
    return min(features.get(_TITLE, frozenset({""})))


def title_key(record: ProductRecord, features: Features) -> str | None:
    """sha256 of the folded brand and the title's words in any order: one brand, one title."""
    title = " ".join(sorted(_title_of(features).split()))
    if not title:
        return None
    brand = " ".join(_TOKEN.findall(fold(record.brand or "")))
    return hashlib.sha256(f"{brand}\x1f{title}".encode()).hexdigest()


def title_closeness(a: Features, b: Features) -> float:
    """Jaccard similarity of the two titles' words (1.0 for the same title)."""
    x, y = set(_title_of(a).split()), set(_title_of(b).split())
    return len(x & y) / len(x | y) if x | y else 0.0


# --- the deduplicator --------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dedup_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dedup_records (
    id TEXT PRIMARY KEY,
    exact_hash TEXT NOT NULL,
    minhash BLOB,
    variants TEXT NOT NULL,
    gtin TEXT,
    duplicate_of TEXT,
    title_key TEXT
);
CREATE INDEX IF NOT EXISTS dedup_records_exact ON dedup_records (exact_hash);
CREATE INDEX IF NOT EXISTS dedup_records_gtin ON dedup_records (gtin);
CREATE TABLE IF NOT EXISTS dedup_bands (
    band INTEGER NOT NULL,
    hash INTEGER NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (band, hash, id)
) WITHOUT ROWID;
"""
_INSERT = (
    "INSERT OR REPLACE INTO dedup_records"
    " (id, exact_hash, minhash, variants, gtin, duplicate_of, title_key)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_BAND = "INSERT OR IGNORE INTO dedup_bands (band, hash, id) VALUES (?, ?, ?)"
_DELETE_BAND = "DELETE FROM dedup_bands WHERE band = ? AND hash = ? AND id = ?"
_BAND_QUERY = "SELECT id FROM dedup_bands WHERE band = ? AND hash = ?"
_CANONICAL_SIGNATURES = (
    "SELECT id, minhash FROM dedup_records WHERE duplicate_of IS NULL AND minhash IS NOT NULL"
)


@dataclass(frozen=True, kw_only=True)
class _Signature:
    exact_hash: str
    minhash: MinHash | None
    features: Features
    title_key: str | None

    @property
    def gtin(self) -> str | None:
        values = self.features.get("gtin")
        return min(values) if values else None


@dataclass(frozen=True, kw_only=True)
class _Stored:
    id: str
    minhash: bytes | None
    features: Features


class Deduplicator:
    """Exact and near-duplicate detection across products and sources, persisted in sqlite.

    `path` is the sqlite state file (`":memory:"` for a throwaway one); `threshold` the estimated
    Jaccard similarity from which two records are near-duplicates; `num_perm` the MinHash size
    (fixed for the life of a state file); `rules` the variant guard's rules (all by default).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        num_perm: int = DEFAULT_NUM_PERM,
        rules: DedupRules = DEFAULT_RULES,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self.num_perm = num_perm
        self.rules = rules
        self._db = sqlite3.connect(str(path))
        self._db.executescript(_SCHEMA)
        self._db.execute("PRAGMA journal_mode=WAL")
        # a commit per check: durable across a crash of the process, not of the machine
        self._db.execute("PRAGMA synchronous=NORMAL")
        # 64 MiB of page cache (sqlite's default is 2 MiB): the band index's upper pages stay in
        # memory as the state grows (outside the Python heap; bounded whatever the catalog size)
        self._db.execute("PRAGMA cache_size=-65536")
        self._migrate()
        self._check_meta()
        # Candidates are confirmed by their Jaccard estimate: a missed candidate costs recall,
        # an extra one costs a row read, so the bands are tuned towards recall. datasketch
        # chooses them (b bands of r values); the buckets live in `dedup_bands`, not the heap.
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=_LSH_WEIGHTS)
        self._bands, self._band_width = int(lsh.b), int(lsh.r)
        self._band_query = " UNION ".join([_BAND_QUERY] * self._bands)
        # the permutations are a function of (num_perm, seed): drawn once, not per MinHash
        self._permutations = MinHash(num_perm=num_perm, scheme=_SCHEME).permutations
        self._fill_bands()

    def __enter__(self) -> Deduplicator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM dedup_records").fetchone()[0])

    def check(self, record: ProductRecord) -> DedupResult:
        """Compare `record` with every canonical product seen before, then remember it."""
        signature = self._signature(record)
        with self._db:  # one transaction: the record and its band rows change together
            self._remove_from_index(record.id)
            result = self._find(record.id, signature)
            self._store(record.id, signature, result.duplicate_of)
        return result

    def known(self, product_id: str) -> Literal["canonical", "duplicate"] | None:
        """How `product_id` was last seen: canonical (indexed), a duplicate, or never."""
        row = self._db.execute(
            "SELECT duplicate_of FROM dedup_records WHERE id = ?", (product_id,)
        ).fetchone()
        if row is None:
            return None
        return "canonical" if row[0] is None else "duplicate"

    def forget(self, product_id: str) -> None:
        """The product was deleted: it is no longer a candidate for anything."""
        with self._db:
            self._remove_from_index(product_id)
            self._db.execute("DELETE FROM dedup_records WHERE id = ?", (product_id,))

    def _migrate(self) -> None:
        """A state file written before `title_key` existed gets the column (empty for its rows:
        they are found by LSH only)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(dedup_records)")}
        with self._db:
            if "title_key" not in columns:
                self._db.execute("ALTER TABLE dedup_records ADD COLUMN title_key TEXT")
            self._db.execute(
                "CREATE INDEX IF NOT EXISTS dedup_records_title ON dedup_records (title_key)"
            )

    def _check_meta(self) -> None:
        wanted = {"num_perm": str(self.num_perm), "scheme": _SCHEME, "shingle": str(SHINGLE_SIZE)}
        with self._db:
            for key, value in wanted.items():
                self._db.execute("INSERT OR IGNORE INTO dedup_meta VALUES (?, ?)", (key, value))
        stored = dict(self._db.execute("SELECT key, value FROM dedup_meta").fetchall())
        for key, value in wanted.items():
            if stored[key] != value:
                raise DedupStateError(
                    f"dedup state was written with {key}={stored[key]}, not {value}: "
                    "use the same settings or a new state file"
                )

    def _fill_bands(self) -> None:
        """Build `dedup_bands` from the stored signatures when it holds other bands (another
        threshold) or none yet (a state file written before the table existed): one pass over
        the canonical records, streamed, in one transaction."""
        layout = f"{self._bands}x{self._band_width}"
        stored = self._db.execute("SELECT value FROM dedup_meta WHERE key = 'lsh_bands'")
        if stored.fetchone() == (layout,):
            return
        signatures = self._db.execute(_CANONICAL_SIGNATURES)
        with self._db:
            self._db.execute("DELETE FROM dedup_bands")
            self._db.executemany(
                _INSERT_BAND,
                (
                    (band, digest, product_id)
                    for product_id, blob in signatures
                    for band, digest in self._band_keys(blob)
                ),
            )
            self._db.execute("INSERT OR REPLACE INTO dedup_meta VALUES ('lsh_bands', ?)", (layout,))

    def _band_keys(self, blob: bytes) -> list[tuple[int, int]]:
        """(band, 64-bit digest of its r values) per band: datasketch's buckets, as rows."""
        width = self._band_width * np.dtype(_DTYPE).itemsize
        return [
            (band, _digest(blob[band * width : (band + 1) * width])) for band in range(self._bands)
        ]

    def _signature(self, record: ProductRecord) -> _Signature:
        sentences = signature_sentences(record)
        shingle_set = shingles(sentences)
        minhash = None
        if shingle_set:
            minhash = MinHash(
                num_perm=self.num_perm, scheme=_SCHEME, permutations=self._permutations
            )
            minhash.update_batch([s.encode("utf-8") for s in sorted(shingle_set)])
        features = variant_features(record)
        return _Signature(
            exact_hash=exact_hash(sentences),
            minhash=minhash,
            features=features,
            title_key=title_key(record, features),
        )

    def _minhash(self, blob: bytes) -> MinHash:
        values = np.frombuffer(blob, dtype=_DTYPE)
        return MinHash(
            num_perm=self.num_perm,
            hashvalues=values,
            scheme=_SCHEME,
            permutations=self._permutations,
        )

    def _find(self, product_id: str, signature: _Signature) -> DedupResult:
        if signature.gtin is not None and self.rules.identifiers:
            rows = self._candidates("gtin = ?", signature.gtin, product_id)
            if rows:
                return DedupResult(duplicate_of=rows[0].id, similarity=1.0, kind="exact")
        rows = self._candidates("exact_hash = ?", signature.exact_hash, product_id)
        if rows:  # the same characters: no variant guard can tell them apart
            return DedupResult(duplicate_of=rows[0].id, similarity=1.0, kind="exact")
        return self._find_near(product_id, signature)

    def _find_near(self, product_id: str, signature: _Signature) -> DedupResult:
        if signature.minhash is None:
            return UNIQUE
        keys = self._lsh_candidates(signature.minhash)
        same_title: set[str] = set()
        if self.rules.same_title and signature.title_key is not None:
            rows = self._candidates("title_key = ?", signature.title_key, product_id)
            same_title = {row.id for row in rows}
        best: tuple[float, float, str] | None = None
        for row in self._rows(sorted((keys | same_title) - {product_id})):
            if row.minhash is None or variants_conflict(
                signature.features, row.features, self.rules
            ):
                continue
            similarity = float(signature.minhash.jaccard(self._minhash(row.minhash)))
            margin = SAME_TITLE_MARGIN if row.id in same_title else 0.0
            if similarity < self.threshold - margin:
                continue
            closeness = title_closeness(signature.features, row.features)
            rank = (-closeness if self.rules.rank_by_title else 0.0, -similarity, row.id)
            if best is None or rank < best:
                best = rank
        if best is None:
            return UNIQUE
        return DedupResult(duplicate_of=best[2], similarity=round(-best[1], 4), kind="near")

    def _lsh_candidates(self, minhash: MinHash) -> set[str]:
        """Ids sharing a band bucket with `minhash`: one indexed query over its b bands."""
        params = [v for key in self._band_keys(_blob(minhash)) for v in key]
        return {row[0] for row in self._db.execute(self._band_query, params)}

    def _candidates(self, where: str, value: str, product_id: str) -> list[_Stored]:
        rows = self._db.execute(
            "SELECT id, minhash, variants FROM dedup_records"
            f" WHERE {where} AND id != ? AND duplicate_of IS NULL ORDER BY id",
            (value, product_id),
        )
        return [_Stored(id=i, minhash=m, features=_load_features(v)) for i, m, v in rows]

    def _rows(self, keys: list[str]) -> list[_Stored]:
        out: list[_Stored] = []
        for start in range(0, len(keys), 500):
            batch = keys[start : start + 500]
            marks = ",".join("?" * len(batch))
            rows = self._db.execute(
                f"SELECT id, minhash, variants FROM dedup_records WHERE id IN ({marks})", batch
            )
            out += [_Stored(id=i, minhash=m, features=_load_features(v)) for i, m, v in rows]
        return sorted(out, key=lambda row: row.id)

    def _store(self, product_id: str, signature: _Signature, duplicate_of: str | None) -> None:
        """Write the record's row and, when it is canonical, its band rows (in the caller's
        transaction)."""
        blob = None if signature.minhash is None else _blob(signature.minhash)
        features = json.dumps({k: sorted(v) for k, v in sorted(signature.features.items())})
        self._db.execute(
            _INSERT,
            (
                product_id,
                signature.exact_hash,
                blob,
                features,
                signature.gtin,
                duplicate_of,
                signature.title_key,
            ),
        )
        if duplicate_of is None and blob is not None:
            keys = self._band_keys(blob)
            self._db.executemany(_INSERT_BAND, [(b, h, product_id) for b, h in keys])

    def _remove_from_index(self, product_id: str) -> None:
        """Delete the band rows of `product_id`'s stored signature (in the caller's
        transaction): its bands are recomputed from it, so no index on `id` is needed."""
        row = self._db.execute(
            "SELECT minhash FROM dedup_records WHERE id = ? AND duplicate_of IS NULL",
            (product_id,),
        ).fetchone()
        if row is not None and row[0] is not None:
            keys = self._band_keys(row[0])
            self._db.executemany(_DELETE_BAND, [(b, h, product_id) for b, h in keys])


def _blob(minhash: MinHash) -> bytes:
    """The signature as stored: num_perm 32-bit values (the affine32 scheme's range)."""
    return bytes(minhash.hashvalues.astype(_DTYPE).tobytes())


def _digest(values: bytes) -> int:
    """A signed 64-bit digest of one band's values (an sqlite INTEGER). Two bands collide by
    chance with odds ~2^-64 per pair; a collision only adds a candidate for the Jaccard check."""
    return int.from_bytes(hashlib.blake2b(values, digest_size=8).digest(), "big", signed=True)


def _load_features(text: str) -> Features:
    return {k: frozenset(v) for k, v in json.loads(text).items()}
