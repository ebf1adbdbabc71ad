"""Deduplication: labelled pair sets with precision/recall floors, plus behaviour tests.

`dedup/records.jsonl` holds products from the sample catalog and copies of them: whitespace and
case changes, markup, tracking parameters, reordered boilerplate, a second source with light
rewording, the same GTIN under other text (duplicates); other sizes, packs, colours, materials,
model numbers and GTINs of the same copy, the catalog's own variants and other products of one
brand (not duplicates). `dedup/labelled_pairs.jsonl` labels 82 pairs of them.
`dedup/hard_pairs.jsonl` (over `hard_records.jsonl`, written by `dedup/make_hard_pairs.py`, whose
docstring says where the texts come from) adds hard copies and siblings; a pair there may name
records the deduplicator sees first (`before`, `between`: a sibling next to the original).
Per-class tests are in `test_dedup_variants.py`; `make eval-dedup` cross-validates.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from datasketch import MinHashLSH

from ingest.core.items import Accepted
from ingest.feeds.reader import read_feed
from ingest.prepare.dedup import Deduplicator, DedupResult, DedupStateError, normalise_url
from schemas.models import ProductRecord

HERE = Path(__file__).parent / "dedup"
CATALOG = Path(__file__).parents[2] / "data" / "sample" / "catalog.jsonl"
SOURCES = (("labelled_pairs.jsonl", "records.jsonl"), ("hard_pairs.jsonl", "hard_records.jsonl"))
PRECISION_FLOOR = 0.99  # measured 1.000 on every pair at the default threshold (0.7)
RECALL_FLOOR = 0.93  # measured 0.94: 0.97 on the first 82, 0.26 on the sellers' reworded titles
RECALL_FLOOR_EXCEPT_REWORDED_TITLES = 0.99  # measured 0.999 (1 of 704 missed)


def _records() -> dict[str, ProductRecord]:
    out: dict[str, ProductRecord] = {}
    for _, name in SOURCES:
        lines = (HERE / name).read_text(encoding="utf-8").splitlines()
        out |= {r.id: r for r in (ProductRecord.model_validate_json(line) for line in lines)}
    return out


def _pairs() -> list[dict[str, Any]]:
    out = []
    for name, _ in SOURCES:
        lines = (HERE / name).read_text(encoding="utf-8").splitlines()
        out += [json.loads(line) | {"file": name} for line in lines]
    return out


def _product(product_id: str = "P-1", **fields: object) -> ProductRecord:
    values: dict[str, object] = {
        "id": product_id,
        "title": "Peat-Free Soil Improver 40 L",
        "brand": "Old Barn Compost Co.",
        "description": (
            "Made from composted garden green waste, screened to 10 mm. Use it to bulk up poor "
            "soil, as a weed-suppressing mulch on borders, or to top up raised beds at the end "
            "of each season. Dig in one to two bags per square metre when preparing new beds."
        ),
        "attributes": {"volume": "40 L", "peat_free": "yes"},
    }
    return ProductRecord.model_validate(values | fields)


def _pair_predictions(
    threshold: float, pairs: list[dict[str, Any]] | None = None
) -> list[tuple[bool, bool, str]]:
    """(label, predicted, case) per pair: predicted when, after the pair's `before` records,
    `a` and its `between` records, `check(b)` names `a`. One deduplicator; each pair forgets
    its records afterwards, so every pair starts from an empty state."""
    records = _records()
    out = []
    with Deduplicator(":memory:", threshold=threshold) as dedup:
        for pair in _pairs() if pairs is None else pairs:
            for product_id in [*pair.get("before", []), pair["a"], *pair.get("between", [])]:
                dedup.check(records[product_id])
            found = dedup.check(records[pair["b"]]).duplicate_of == pair["a"]
            out.append((bool(pair["duplicate"]), found, f"{pair['case']}: {pair['b']}"))
            for product_id in [
                *pair.get("before", []),
                pair["a"],
                *pair.get("between", []),
                pair["b"],
            ]:
                dedup.forget(product_id)
    return out


def _precision_recall(predictions: list[tuple[bool, bool, str]]) -> tuple[float, float]:
    tp = sum(label and predicted for label, predicted, _ in predictions)
    fp = sum(predicted and not label for label, predicted, _ in predictions)
    fn = sum(label and not predicted for label, predicted, _ in predictions)
    return tp / (tp + fp), tp / (tp + fn)


def test_labelled_pairs_precision_and_recall() -> None:
    pairs = _pairs()
    predictions = _pair_predictions(0.7, pairs)
    precision, recall = _precision_recall(predictions)
    print(f"\ndedup labelled pairs: {len(pairs)}, precision {precision:.3f}, recall {recall:.3f}")
    missed = [case for label, predicted, case in predictions if label != predicted]
    assert precision >= PRECISION_FLOOR, missed
    assert recall >= RECALL_FLOOR, missed
    others = [p for p, pair in zip(predictions, pairs, strict=True) if pair.get("round") != 3]
    assert _precision_recall(others)[1] >= RECALL_FLOOR_EXCEPT_REWORDED_TITLES, missed
    first = [p for p, pair in zip(predictions, pairs, strict=True) if pair["file"] == SOURCES[0][0]]
    assert _precision_recall(first) >= (1.0, 0.97), missed  # the 82: 1.000 and 0.973 before too


def test_labelled_set_is_large_and_balanced() -> None:
    pairs = _pairs()
    records = _records()
    hard = [p for p in pairs if p["file"] == "hard_pairs.jsonl"]
    assert len(pairs) >= 1000 and len(hard) >= 150
    assert 0.4 <= sum(bool(p["duplicate"]) for p in hard) / len(hard) <= 0.6
    ids = [i for p in pairs for i in (p["a"], p["b"], *p.get("before", []), *p.get("between", []))]
    assert all(i in records for i in ids)
    cases = {p["case"].split(" (")[0].split(",")[0] for p in hard}
    for wanted in (
        "variant: colour",
        "variant: model name",
        "variant: series name",
        "variant: gendered",
        "variant: connector gender",
        "variant: size token",
        "copy",
        "link to the original",
    ):
        assert wanted in cases, wanted
    assert {p["split"] for p in hard} == {"dev", "holdout"}


def test_hard_pairs_are_what_their_generator_writes() -> None:
    spec = importlib.util.spec_from_file_location("make_hard_pairs", HERE / "make_hard_pairs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    records, pairs = module.build()
    assert (HERE / "hard_records.jsonl").read_text(encoding="utf-8") == module.jsonl(records)
    assert (HERE / "hard_pairs.jsonl").read_text(encoding="utf-8") == module.jsonl(pairs)


def test_hard_negatives_are_never_merged_at_any_threshold() -> None:
    negatives = [p for p in _pairs() if not p["duplicate"]]
    for threshold in (0.5, 0.9):
        merged = [
            case for _, predicted, case in _pair_predictions(threshold, negatives) if predicted
        ]
        assert merged == [], threshold


def test_sample_catalog_has_no_duplicates() -> None:
    records = [i.record for i in read_feed(CATALOG) if isinstance(i, Accepted)]
    with Deduplicator(":memory:") as dedup:
        found = {r.id: dedup.check(r) for r in records}
    assert len(records) == 150
    assert {k: v for k, v in found.items() if v.duplicate_of} == {}


def test_same_id_again_is_an_update_not_a_duplicate() -> None:
    with Deduplicator(":memory:") as dedup:
        assert dedup.check(_product()) == DedupResult()
        assert dedup.check(_product()) == DedupResult()
        changed = _product(description="Entirely new copy for the same product id.")
        assert dedup.check(changed) == DedupResult()
        assert len(dedup) == 1
        # the old text is gone: a new id with it is no longer a duplicate of P-1
        assert dedup.check(_product("P-2")).duplicate_of is None


def test_exact_duplicate_across_ids_and_sources() -> None:
    with Deduplicator(":memory:") as dedup:
        dedup.check(_product("P-1", url="https://a.example/p/1"))
        copy = _product(
            "Q-9",
            source="crawl:b.example",
            url="https://b.example/x?utm_source=mail&gclid=1",
            title="  PEAT-FREE   soil improver 40 L ",
            description="<p>" + _product().description.replace(". ", ".<br>") + "</p>",
        )
        assert dedup.check(copy) == DedupResult(duplicate_of="P-1", similarity=1.0, kind="exact")


def test_near_duplicate_reports_similarity() -> None:
    with Deduplicator(":memory:") as dedup:
        dedup.check(_product())
        reworded = _product("P-2", description=_product().description.replace("poor", "tired"))
        result = dedup.check(reworded)
    assert result.duplicate_of == "P-1"
    assert result.kind == "near"
    assert result.similarity is not None and 0.7 <= result.similarity < 1.0


def test_variant_of_same_copy_is_not_a_duplicate() -> None:
    with Deduplicator(":memory:") as dedup:
        dedup.check(_product())
        bigger = _product(
            "P-80", title="Peat-Free Soil Improver 80 L", attributes={"volume": "80 L"}
        )
        assert dedup.check(bigger) == DedupResult()


def test_gtin_decides_over_text() -> None:
    with Deduplicator(":memory:") as dedup:
        dedup.check(_product(attributes={"gtin13": "5012345678900"}))
        other_text = _product("P-2", title="Soil improver", description="", attributes={})
        same_gtin = other_text.model_copy(update={"attributes": {"ean": "05012345678900"}})
        assert dedup.check(same_gtin).kind == "exact"
        other_gtin = _product("P-3", attributes={"gtin13": "5012345678917"})
        assert dedup.check(other_gtin) == DedupResult()


def test_state_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "dedup.sqlite"
    with Deduplicator(path) as dedup:
        dedup.check(_product())
    reworded = _product("P-2", description=_product().description.replace("poor", "tired"))
    with Deduplicator(path) as dedup:
        assert len(dedup) == 1
        assert dedup.check(reworded).duplicate_of == "P-1"
    with Deduplicator(path) as dedup:
        assert dedup.check(reworded).duplicate_of == "P-1"  # P-2 was stored as a duplicate
        dedup.forget("P-1")
        assert dedup.check(reworded) == DedupResult()


def test_other_minhash_settings_refuse_the_state_file(tmp_path: Path) -> None:
    path = tmp_path / "dedup.sqlite"
    Deduplicator(path).close()
    with pytest.raises(DedupStateError, match="num_perm"):
        Deduplicator(path, num_perm=64)


@pytest.mark.parametrize("threshold", [0.5, 0.7])
def test_band_table_finds_the_candidates_of_datasketch_lsh(threshold: float) -> None:
    """The sqlite band buckets answer what the in-memory `MinHashLSH` they replace answered:
    every labelled record checked in turn, canonical ones indexed in both."""
    lsh = MinHashLSH(threshold=threshold, num_perm=128, weights=(0.3, 0.7))
    queried = 0
    with Deduplicator(":memory:", threshold=threshold) as dedup:
        for record in _records().values():
            minhash = dedup._signature(record).minhash
            if minhash is None:
                continue
            assert dedup._lsh_candidates(minhash) == set(lsh.query(minhash)), record.id
            queried += 1
            if not dedup.check(record).is_duplicate:
                lsh.insert(record.id, minhash)
    assert queried > 1000


def _reworded() -> ProductRecord:
    text = _product().description
    return _product(
        "P-2",
        title="Peat-Free Soil Improver 40 L, Garden Mulch",  # not one title (`same_title`)
        description=text.replace("poor", "tired").replace("borders", "flower beds"),
    )


def test_a_state_file_without_band_table_gets_one(tmp_path: Path) -> None:
    """A state file written before `dedup_bands` existed: the bands are built from the stored
    signatures on open."""
    path = tmp_path / "dedup.sqlite"
    with Deduplicator(path, threshold=0.5) as dedup:
        dedup.check(_product())
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE dedup_bands")
        db.execute("DELETE FROM dedup_meta WHERE key = 'lsh_bands'")
    with Deduplicator(path, threshold=0.5) as dedup:
        assert dedup.check(_reworded()).duplicate_of == "P-1"


def test_another_threshold_rebuilds_the_bands(tmp_path: Path) -> None:
    path = tmp_path / "dedup.sqlite"
    with Deduplicator(path, threshold=0.95) as dedup:
        dedup.check(_product())
    with Deduplicator(path, threshold=0.5) as dedup:
        assert dedup.check(_reworded()).duplicate_of == "P-1"
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT COUNT(*), COUNT(DISTINCT band) FROM dedup_bands").fetchone()
    assert rows == (25, 25)  # P-1 only (P-2 is a duplicate): 25 bands of 5 at 0.5


def test_forget_and_update_leave_no_band_rows_behind() -> None:
    with Deduplicator(":memory:") as dedup:
        count = "SELECT COUNT(*) FROM dedup_bands"
        dedup.check(_product())
        updated = _product(description="Another text entirely, about garden rakes and hoes.")
        dedup.check(updated)
        assert dedup._db.execute(count).fetchone() == (16,)  # 16 bands at 0.7, P-1 once
        assert dedup.check(updated.model_copy(update={"id": "P-2"})).kind == "exact"
        dedup.forget("P-1")
        assert dedup._db.execute(count).fetchone() == (0,)  # P-2, a duplicate, has none


def test_threshold_changes_behaviour() -> None:
    text = _product().description
    reworded = _product(
        "P-2",
        title="Peat-Free Soil Improver 40 L, Garden Mulch",  # not one title (`same_title`)
        description=text.replace("poor", "tired").replace("borders", "flower beds"),
    )
    results = {}
    for threshold in (0.5, 0.95):
        with Deduplicator(":memory:", threshold=threshold) as dedup:
            dedup.check(_product())
            results[threshold] = dedup.check(reworded).duplicate_of
    assert results == {0.5: "P-1", 0.95: None}
    with pytest.raises(ValueError, match="threshold"):
        Deduplicator(":memory:", threshold=0.0)


@pytest.mark.parametrize("description", ["", "Ok.", "<p></p>", "Free delivery! Add to basket."])
def test_empty_and_short_descriptions(description: str) -> None:
    with Deduplicator(":memory:") as dedup:
        assert dedup.check(_product("A", title="—", description=description)) == DedupResult()
        again = dedup.check(_product("B", title="—", description=description))
        assert again.duplicate_of in (None, "A")
        dedup.check(_product("C", title="Rake", description=description, attributes={}))


def test_normalise_url_drops_tracking_only() -> None:
    url = "HTTPS://Shop.Example/p/1/?utm_source=x&variant=2&gclid=abc&fbclid=z#reviews"
    assert normalise_url(url) == "https://shop.example/p/1?variant=2"
