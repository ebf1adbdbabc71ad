"""Deduplication: a labelled pair set with precision/recall floors, plus behaviour tests.

`dedup/records.jsonl` holds products from the sample catalog and copies of them: whitespace and
case changes, markup, tracking parameters, reordered boilerplate, a second source with light
rewording, the same GTIN under other text (duplicates); other sizes, packs, colours, materials,
model numbers and GTINs of the same copy, the catalog's own variants and other products of one
brand (not duplicates). `dedup/labelled_pairs.jsonl` labels pairs of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.feeds.reader import Accepted, read_feed
from ingest.prepare.dedup import Deduplicator, DedupResult, DedupStateError, normalise_url
from schemas.models import ProductRecord

HERE = Path(__file__).parent / "dedup"
CATALOG = Path(__file__).parents[2] / "data" / "sample" / "catalog.jsonl"
PRECISION_FLOOR = 0.95  # measured 1.0 at the default threshold (0.7)
RECALL_FLOOR = 0.9  # measured 0.97 (36 of 37) at the default threshold


def _records() -> dict[str, ProductRecord]:
    lines = (HERE / "records.jsonl").read_text(encoding="utf-8").splitlines()
    return {r.id: r for r in (ProductRecord.model_validate_json(line) for line in lines)}


def _pairs() -> list[dict[str, object]]:
    lines = (HERE / "labelled_pairs.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


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


def _pair_predictions(threshold: float) -> list[tuple[bool, bool, str]]:
    records = _records()
    out = []
    for pair in _pairs():
        with Deduplicator(":memory:", threshold=threshold) as dedup:
            dedup.check(records[str(pair["a"])])
            result = dedup.check(records[str(pair["b"])])
        out.append((bool(pair["duplicate"]), result.duplicate_of == pair["a"], str(pair["case"])))
    return out


def test_labelled_pairs_precision_and_recall() -> None:
    predictions = _pair_predictions(0.7)
    tp = sum(label and predicted for label, predicted, _ in predictions)
    fp = sum(predicted and not label for label, predicted, _ in predictions)
    fn = sum(label and not predicted for label, predicted, _ in predictions)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    print(
        f"\ndedup labelled set: {len(predictions)} pairs ({tp + fn} duplicates), "
        f"precision {precision:.3f}, recall {recall:.3f} (tp {tp}, fp {fp}, fn {fn})"
    )
    missed = [case for label, predicted, case in predictions if label != predicted]
    assert precision >= PRECISION_FLOOR, missed
    assert recall >= RECALL_FLOOR, missed


def test_labelled_set_is_large_and_balanced() -> None:
    pairs = _pairs()
    records = _records()
    assert len(pairs) >= 60
    assert sum(bool(p["duplicate"]) for p in pairs) >= 30
    assert sum(not p["duplicate"] for p in pairs) >= 30
    assert all(p["a"] in records and p["b"] in records for p in pairs)


def test_hard_negatives_are_never_merged_at_any_threshold() -> None:
    for threshold in (0.5, 0.7, 0.9):
        merged = [
            case
            for label, predicted, case in _pair_predictions(threshold)
            if predicted and not label
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


def test_threshold_changes_behaviour() -> None:
    text = _product().description
    reworded = _product(
        "P-2",
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
