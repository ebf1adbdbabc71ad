"""What BM25 matches on: the words of a chunk, analysed once here, plus its quantities.

Both backends run BM25 over `search_text`, a field the index derives from the chunk text when a
chunk is written (`workers.index.base.row_properties`), and are queried with `search_query`
of the query text, so a word means the same on LanceDB and on Weaviate (Weaviate does not stem):

- words: the chunk text through tantivy's English analyzer, the one LanceDB's own full-text
  index uses by default (simple tokenizer, lower case, English stop words removed, Snowball
  stemmer, ASCII folding): "Hoses" and "hose" are one term, "the" is none;
- quantities: a number with a unit becomes one canonical token, whatever way it is written, so
  "50 ft.", "50ft", "50-foot" and "50 feet" are all `50ft`; "3/8 in.", "0.375 inch" and
  `3/8"` are `0p375in` ("p" for the decimal point: an index splits words at "." and "/");
  "18V" and "18 volt" are `18v`; "1-1/2 in." is `1p5in`. Sizes ("6 × 8 ft", "2 in. x 4 in.
  x 8 ft.", "2x4") add `6x8`, `2x4` and `2x4x8`. The words stay as well ("50", "ft"), so a
  query that names the number alone still matches.

Measured on the sample qrels (README, "Relevance"): stemming is worth +0.08 nDCG@10 for BM25
on product titles; canonical quantities add a little there (few sample queries carry units) and
are what makes "50ft hose" find "50 ft." (tests/unit/test_terms.py).

`quantities` is also what the ranking stage compares (`workers.retrieval.features`).
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache
from typing import Any

UNITS: dict[str, tuple[str, ...]] = {
    "in": ("inches", "inch", "in.", "in", '"', "''", "″"),
    "ft": ("feet", "foot", "ft.", "ft", "'", "′"),
    "yd": ("yards", "yard", "yds", "yd"),
    "mm": ("millimetres", "millimeters", "millimetre", "millimeter", "mm"),
    "cm": ("centimetres", "centimeters", "centimetre", "centimeter", "cm"),
    "m": ("metres", "meters", "metre", "meter", "m"),
    "km": ("kilometres", "kilometers", "km"),
    "sqft": ("square feet", "square foot", "sq. ft.", "sq ft", "sq.ft.", "sqft", "ft2", "ft²"),
    "m2": ("square metres", "square meters", "sq m", "m2", "m²"),
    "cuft": ("cubic feet", "cubic foot", "cu. ft.", "cu ft", "cuft", "ft3", "ft³"),
    "ml": ("millilitres", "milliliters", "ml"),
    "l": ("litres", "liters", "litre", "liter", "ltr", "l"),
    "gal": ("gallons", "gallon", "gal.", "gal"),
    "qt": ("quarts", "quart", "qt"),
    "oz": ("fl. oz.", "fl oz", "ounces", "ounce", "oz.", "oz"),
    "lb": ("pounds", "pound", "lbs.", "lbs", "lb.", "lb"),
    "kg": ("kilograms", "kilogram", "kgs", "kg"),
    "g": ("grams", "gram", "g"),
    "v": ("volts", "volt", "v"),
    "w": ("watts", "watt", "w"),
    "kw": ("kilowatts", "kilowatt", "kw"),
    "a": ("amperes", "ampere", "amps", "amp", "a"),
    "ah": ("ah",),
    "mah": ("mah",),
    "wh": ("wh",),
    "kwh": ("kwh",),
    "hp": ("hp",),
    "cc": ("cc",),
    "psi": ("psi",),
    "gpm": ("gpm",),
    "btu": ("btus", "btu"),
    "rpm": ("rpm",),
    "gsm": ("gsm",),
    "mph": ("mph",),
    "pk": ("packs", "pack", "pk", "pcs", "pc", "pieces", "piece", "count", "ct"),
    "ga": ("gauge", "ga"),
}
"""Canonical unit -> the ways it is written (lower case)."""
_ALIAS = {alias: unit for unit, aliases in UNITS.items() for alias in aliases}
_UNIT = "|".join(re.escape(a) for a in sorted(_ALIAS, key=len, reverse=True))
_NUMBER = r"(?:\d+\s*-\s*\d+/\d+|\d+\s+\d+/\d+|\d+/\d+|\d*\.\d+|\d{1,3}(?:,\d{3})+(?!\d)|\d+)"
"""1-1/2, 1 1/2, 3/8, 0.375, .5, 1,000, 50."""
_QUANTITY = re.compile(rf"(?<![\w.])({_NUMBER})(?:\s*-\s*|\s*)({_UNIT})(?![a-z0-9])", re.IGNORECASE)
_SIZE = re.compile(
    rf"(?<![\w.])({_NUMBER})\s*(?:{_UNIT})?\s*[x×*]\s*({_NUMBER})"
    rf"(?:\s*(?:{_UNIT})?\s*[x×*]\s*({_NUMBER}))?",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
_TIMES = re.compile(r"\d\s*(?:[a-z.'\"″′²³]+\s*)?[x×*]", re.IGNORECASE)
"""A digit before an x: the only place a size can start (checked before the full pattern)."""
_MIXED = re.compile(r"(\d+)\s*(?:-|\s)\s*(\d+)/(\d+)")
_MAX_TOKEN = 40


@lru_cache(maxsize=1)
def _analyzer() -> Any:
    from tantivy import Filter, TextAnalyzerBuilder, Tokenizer

    return (
        TextAnalyzerBuilder(Tokenizer.simple())
        .filter(Filter.remove_long(_MAX_TOKEN))
        .filter(Filter.lowercase())
        .filter(Filter.stopword("english"))
        .filter(Filter.stemmer("english"))
        .filter(Filter.ascii_fold())
        .build()
    )


def words(text: str) -> list[str]:
    """The analysed words of `text`, in order (stop words dropped, stemmed, lower case)."""
    found: list[str] = _analyzer().analyze(text)
    return found


def number(written: str) -> str | None:
    """A written number as a canonical token: "1-1/2" -> "1p5", "3/8" -> "0p375", "1,000" ->
    "1000"; None when it is not a number (a zero denominator)."""
    text = written.replace(",", "").strip()
    try:
        mixed = _MIXED.fullmatch(text)
        if mixed:
            value = int(mixed[1]) + Fraction(int(mixed[2]), int(mixed[3]))
        elif "/" in text:
            top, bottom = text.split("/")
            value = Fraction(int(top), int(bottom))
        else:
            value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None
    return f"{float(value):.4f}".rstrip("0").rstrip(".").replace(".", "p")


def quantities(text: str) -> list[tuple[str, str]]:
    """(canonical number, canonical unit) of every quantity in `text`, in order."""
    out: list[tuple[str, str]] = []
    if not _DIGIT.search(text):
        return out
    for match in _QUANTITY.finditer(text.replace("×", "x")):
        value, unit = number(match[1]), _ALIAS.get(match[2].lower())
        if value is not None and unit is not None:
            out.append((value, unit))
    return out


def sizes(text: str) -> list[str]:
    """Sizes written as A x B [x C] (units dropped): "AxB" and, with three sides, "AxBxC"."""
    out: list[str] = []
    if not _TIMES.search(text):
        return out
    for match in _SIZE.finditer(text.replace("×", "x")):
        sides = [number(g) for g in match.groups() if g]
        if all(s is not None for s in sides):
            named = [s for s in sides if s is not None]
            out.append("x".join(named[:2]))
            if len(named) == 3:
                out.append("x".join(named))
    return out


def quantity_terms(text: str) -> list[str]:
    """The canonical tokens of the quantities and sizes in `text`."""
    return [f"{v}{u}" for v, u in quantities(text)] + sizes(text)


def search_text(text: str) -> str:
    """What BM25 indexes for a chunk: its analysed words, then its quantity tokens."""
    return " ".join(words(text) + quantity_terms(text))


def search_query(text: str) -> str:
    """A query as BM25 is asked it (the same analysis as `search_text`); empty when no word of
    it can match (only stop words or punctuation)."""
    return search_text(text)
