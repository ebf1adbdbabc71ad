"""Deduplication: the same product arriving under two ids is indexed once.

`Deduplicator.check(record)` compares a record with every product seen before and answers a
`DedupResult`: not a duplicate, an exact duplicate, or a near-duplicate (with the id it
duplicates and the similarity). Re-checking an id that is already known is an update of that
product: its entry is replaced, it is never a duplicate of itself.

Signature: title, brand, description and attributes, NFKC-cleaned (`clean_text`), lowercased,
URLs stripped of tracking parameters, boilerplate sentences ("free shipping", "add to cart")
dropped, folded to word tokens.

- exact: sha256 of the signature tokens; or equal GTIN/EAN/UPC attributes whatever the text.
- near: MinHash of word 3-gram shingles (taken within each sentence and attribute, so reordered
  sentences or attributes change nothing), candidates from `MinHashLSH(threshold)`, confirmed by
  the estimated Jaccard similarity >= threshold.
- variant guard: two records whose variant-defining features differ are never duplicates,
  whatever their text: sizes and quantities with units (40 L, 2.5 kg, 250 seeds), pack counts
  ("pack of 6", "3 × 50 L"; no pack means 1), colours, materials, kit/body-only, "No. 3",
  model numbers, and GTIN/SKU/MPN attributes. Features come from the title and size-like
  attributes (not the description, which mentions dilutions and other sizes); a feature counts
  only when both records carry it.

State survives restarts: a sqlite file (table `dedup_records`: id -> exact hash, MinHash bytes,
variant features, GTIN, duplicate_of) is the source of truth; on open the LSH index is rebuilt
from it. Only canonical records (not duplicates) are candidates, so a chain of rewordings never
drifts away from the product it started from; `forget(id)` removes a deleted product.

Scaling to millions of records (target 5M):
- exact and GTIN look-ups are indexed sqlite queries: nothing held in memory;
- MinHash signatures are stored in sqlite and read back only for LSH candidates; in memory stays
  the LSH band tables: b bands x (key + bucket) per record, about 0.5-1 KB per record with
  128 permutations, i.e. a few GB for 5M records (keeping the raw signatures in memory too would
  add num_perm x 4 bytes each, 2.5 GB at 128 permutations, more with 64-bit hashes);
- to shrink it: fewer permutations (`num_perm=64` halves the tables, at a small cost in
  estimate variance), shard the deduplicator by category or brand (duplicates almost never
  cross them; one process per shard), or keep the band tables in Redis/Cassandra with
  datasketch's `storage_config` so several workers share one index;
- rebuilding on open reads the table once (minutes for 5M rows); the table stays the source of
  truth, so any index can be rebuilt from it at any time.

Errors: `DedupStateError` (an `IngestError`) when the state file was written with other
MinHash settings (it would silently compare incomparable signatures).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
from datasketch import MinHash, MinHashLSH

from ingest.errors import IngestError
from ingest.prepare.clean import clean_line, clean_text
from schemas.models import ProductRecord

DEFAULT_THRESHOLD = 0.7
"""Estimated Jaccard similarity of shingle sets from which two records are near-duplicates."""
DEFAULT_NUM_PERM = 128
"""MinHash permutations: more is a finer estimate, fewer is a smaller index."""
SHINGLE_SIZE = 3
"""Words per shingle."""
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
_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:'[^\W\d_]+)?")


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


def _sentences(text: str) -> Iterator[str]:
    """Cleaned, lowercased sentences of `text`, boilerplate dropped, URLs normalised."""
    text = _URL.sub(lambda m: normalise_url(m.group(0)), clean_text(text).lower())
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
    lines = [_words(s) for part in parts for s in _sentences(part)]
    lines += [_words(s) for s in _sentences(record.description)]
    return [line for line in lines if line]


def exact_hash(sentences: list[list[str]]) -> str:
    """sha256 of the signature words (sentence order kept: a reorder is near, not exact)."""
    body = "\n".join(" ".join(words) for words in sentences)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


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
    **dict.fromkeys(("kg", "kgs", "kilo", "kilos", "kilogram", "kilograms"), ("mass", Decimal(1))),
    **dict.fromkeys(("g", "gram", "grams", "gr"), ("mass", Decimal("0.001"))),
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
    **dict.fromkeys(("cc",), ("displacement", Decimal(1))),
    **dict.fromkeys(("bar",), ("pressure", Decimal(1))),
    **dict.fromkeys(("gsm",), ("grammage", Decimal(1))),
    **dict.fromkeys(("seed", "seeds"), ("seeds", Decimal(1))),
    **dict.fromkeys(("tine", "tines", "teeth", "tooth"), ("tines", Decimal(1))),
    **dict.fromkeys(("tier", "tiers", "shelf", "shelves"), ("tiers", Decimal(1))),
    **dict.fromkeys(("larva", "larvae", "nematodes"), ("organisms", Decimal(1))),
    **dict.fromkeys(("setting", "settings", "nozzle", "nozzles"), ("settings", Decimal(1))),
    **dict.fromkeys(("bed", "beds", "plant", "plants"), ("capacity_count", Decimal(1))),
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
_COLOURS = frozenset(
    [
        "black",
        "white",
        "red",
        "green",
        "blue",
        "yellow",
        "orange",
        "purple",
        "pink",
        "grey",
        "gray",
        "brown",
        "silver",
        "gold",
        "beige",
        "cream",
        "charcoal",
        "anthracite",
        "navy",
        "olive",
        "lilac",
        "turquoise",
    ]
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
_MODEL = re.compile(r"\b(?:no\.?|nr\.?|number|mk|type)\s?(\d+[a-z]?)\b")
_CODE = re.compile(r"\b(?=[a-z0-9-]*\d)(?=[a-z0-9-]*[a-z])[a-z]{1,4}-?\d{2,}[a-z0-9-]*\b")
_PRESENCE_FEATURES = ("colour",)
_SIZE_KEYS = re.compile(
    r"volume|weight|size|capacity|pack|quantity|count|colou?r|length|width|dimension|contents"
)
_ID_KEYS = {"gtin": "gtin", "gtin8": "gtin", "gtin12": "gtin", "gtin13": "gtin", "gtin14": "gtin"}
_ID_KEYS |= {"ean": "gtin", "ean13": "gtin", "upc": "gtin", "isbn": "gtin"}
_ID_KEYS |= {
    "sku": "sku",
    "mpn": "mpn",
    "model": "mpn",
    "model_number": "mpn",
    "part_number": "mpn",
}


def variant_features(record: ProductRecord) -> Features:
    """The features that tell variants apart, from the title and size-like attributes.

    Title features and attribute features are kept apart (`volume` vs `attr:volume`): a source
    without attributes then still compares by its title.
    """
    features: dict[str, set[str]] = {"pack": set()}
    _text_features(clean_line(record.title).lower(), features)
    if not features["pack"]:
        features["pack"].add("1")
    attributes: dict[str, set[str]] = {}
    for key, value in record.attributes.items():
        name = key.lower().replace("-", "_").replace(" ", "_")
        if name in _ID_KEYS:
            features.setdefault(_ID_KEYS[name], set()).add(_identifier(value, _ID_KEYS[name]))
        elif "colo" in name:
            colours = set(_words(value.lower())) & _COLOURS
            features.setdefault("colour", set()).update(colours or {clean_line(value).lower()})
        elif _SIZE_KEYS.search(name):
            _attribute_features(name, clean_line(value).lower(), attributes)
    features |= {f"attr:{k}": v for k, v in attributes.items()}
    return {k: frozenset(v) for k, v in features.items() if v}


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
    title = _DIMENSIONS.sub(lambda m: _add_dimensions(m, features), title)
    for match in _QUANTITY.finditer(title):
        _add_quantity(match.group(1), match.group(2), features)
    for match in _PACK.finditer(title):
        features["pack"].add(next(g for g in match.groups() if g))
    for phrase, count in _PACK_WORDS.items():
        if re.search(rf"\b{phrase}\b", title):
            features["pack"].add(count)
    words = set(_words(title))
    _add_words("colour", words & _COLOURS, features)
    _add_words("material", {_MATERIALS[w] for w in words & _MATERIALS.keys()}, features)
    _add_words("config", {v for k, v in _CONFIG.items() if re.search(rf"\b{k}\b", title)}, features)
    _add_words("model", set(_MODEL.findall(title)) | set(_CODE.findall(title)), features)


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


def _add_quantity(number: str, unit: str, features: dict[str, set[str]]) -> None:
    dimension, scale = _UNITS[unit]
    features.setdefault(dimension, set()).add(_number(number, scale))


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


def variants_conflict(a: Features, b: Features) -> bool:
    """True when the records are different products of one line.

    A feature both records carry differs; or only one names a colour (a shop names colours
    when a product comes in several).
    """
    if any(a.get(dim) != b.get(dim) for dim in _PRESENCE_FEATURES):
        return True
    return any(a[dim] != b[dim] for dim in a.keys() & b.keys())


# --- the deduplicator --------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dedup_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dedup_records (
    id TEXT PRIMARY KEY,
    exact_hash TEXT NOT NULL,
    minhash BLOB,
    variants TEXT NOT NULL,
    gtin TEXT,
    duplicate_of TEXT
);
CREATE INDEX IF NOT EXISTS dedup_records_exact ON dedup_records (exact_hash);
CREATE INDEX IF NOT EXISTS dedup_records_gtin ON dedup_records (gtin);
"""


@dataclass(frozen=True, kw_only=True)
class _Signature:
    exact_hash: str
    minhash: MinHash | None
    features: Features

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
    (fixed for the life of a state file).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        num_perm: int = DEFAULT_NUM_PERM,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self.num_perm = num_perm
        self._db = sqlite3.connect(str(path))
        self._db.executescript(_SCHEMA)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._check_meta()
        # Candidates are confirmed by their Jaccard estimate: a missed candidate costs recall,
        # an extra one costs a row read, so the bands are tuned towards recall.
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=_LSH_WEIGHTS)
        self._rebuild()

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
        self._remove_from_index(product_id)
        with self._db:
            self._db.execute("DELETE FROM dedup_records WHERE id = ?", (product_id,))

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

    def _rebuild(self) -> None:
        rows = self._db.execute(
            "SELECT id, minhash FROM dedup_records WHERE duplicate_of IS NULL AND minhash IS NOT NULL"
        )
        with self._lsh.insertion_session() as session:
            for product_id, blob in rows:
                session.insert(product_id, self._minhash(blob), check_duplication=False)

    def _signature(self, record: ProductRecord) -> _Signature:
        sentences = signature_sentences(record)
        shingle_set = shingles(sentences)
        minhash = None
        if shingle_set:
            minhash = MinHash(num_perm=self.num_perm, scheme=_SCHEME)
            minhash.update_batch([s.encode("utf-8") for s in sorted(shingle_set)])
        return _Signature(
            exact_hash=exact_hash(sentences),
            minhash=minhash,
            features=variant_features(record),
        )

    def _minhash(self, blob: bytes) -> MinHash:
        values = np.frombuffer(blob, dtype=_DTYPE)
        return MinHash(num_perm=self.num_perm, hashvalues=values, scheme=_SCHEME)

    def _find(self, product_id: str, signature: _Signature) -> DedupResult:
        if signature.gtin is not None:
            rows = self._candidates("gtin = ?", signature.gtin, product_id)
            if rows:
                return DedupResult(duplicate_of=rows[0].id, similarity=1.0, kind="exact")
        rows = self._candidates("exact_hash = ?", signature.exact_hash, product_id)
        for row in rows:
            if not variants_conflict(signature.features, row.features):
                return DedupResult(duplicate_of=row.id, similarity=1.0, kind="exact")
        return self._find_near(product_id, signature)

    def _find_near(self, product_id: str, signature: _Signature) -> DedupResult:
        if signature.minhash is None:
            return UNIQUE
        keys = [str(k) for k in self._lsh.query(signature.minhash) if k != product_id]
        best: tuple[float, str] | None = None
        for row in self._rows(keys):
            if row.minhash is None or variants_conflict(signature.features, row.features):
                continue
            similarity = float(signature.minhash.jaccard(self._minhash(row.minhash)))
            if similarity >= self.threshold and (best is None or (-similarity, row.id) < best):
                best = (-similarity, row.id)
        if best is None:
            return UNIQUE
        return DedupResult(duplicate_of=best[1], similarity=round(-best[0], 4), kind="near")

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
        blob = None
        if signature.minhash is not None:
            blob = signature.minhash.hashvalues.astype(_DTYPE).tobytes()
        features = json.dumps({k: sorted(v) for k, v in sorted(signature.features.items())})
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO dedup_records VALUES (?, ?, ?, ?, ?, ?)",
                (product_id, signature.exact_hash, blob, features, signature.gtin, duplicate_of),
            )
        if duplicate_of is None and signature.minhash is not None:
            self._lsh.insert(product_id, signature.minhash)

    def _remove_from_index(self, product_id: str) -> None:
        if product_id in self._lsh:
            self._lsh.remove(product_id)


def _load_features(text: str) -> Features:
    return {k: frozenset(v) for k, v in json.loads(text).items()}
