"""`freshindex finetune` (`workers.finetune`): the query split is stable and disjoint, hard
negatives are candidates judged below the cut (never a related product), rows and batches keep
false negatives out, the local BM25 ranks as the index's analysis matches, a new version is
written whole under the next free number with its fingerprint, the stack serves a copy of the
bundled repository, and a real (tiny) training run writes a version that loads back."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from infra.cli import app
from infra.stack import triton as triton_stack
from workers.finetune import data as finetune_data
from workers.finetune.data import (
    Candidates,
    Example,
    Passage,
    batches,
    build_examples,
    clash,
    data_sha256,
    hard_negatives,
    split_queries,
)
from workers.finetune.errors import BaseModelError, RepositoryError, TrainingDataError
from workers.finetune.mining import BestPassage, LocalBM25, local_candidates, products_by_score
from workers.finetune.params import Params
from workers.finetune.repository import (
    Base,
    next_version,
    resolve_base,
    stock_weights,
    versions,
    write_version,
)
from workers.relevance import parse_qrels

BUNDLED = triton_stack.DEFAULT_MODEL_REPOSITORY
IDENTITY_KEYS = {"base_model", "data_sha256", "params", "dimension", "created"}


def qrels_of(rows: Sequence[tuple[str, str, int, int | None]]) -> Any:
    lines = []
    for query, product, grade, fold in rows:
        row: dict[str, Any] = {"query": query, "product_id": product, "grade": grade}
        if fold is not None:
            row["fold"] = fold
        lines.append(json.dumps(row))
    return parse_qrels(lines)


# --------------------------------------------------------------------------- the split


def twenty_queries() -> Any:
    rows = [(f"query {i}", f"P-{i}", 3, i % 2) for i in range(20)]
    rows.append(("no answer", "P-0", 1, 0))  # no relevant product: in no part
    return qrels_of(rows)


def test_split_is_disjoint_stable_and_honours_the_fold() -> None:
    qrels = twenty_queries()
    whole = split_queries(qrels, validation_fraction=0.2, seed=1)
    assert len(whole.validation) == 4 and len(whole.train) == 16 and whole.test == ()
    assert set(whole.train).isdisjoint(whole.validation)
    assert "no answer" not in whole.train + whole.validation
    assert split_queries(qrels, validation_fraction=0.2, seed=1) == whole  # stable
    assert split_queries(qrels, validation_fraction=0.2, seed=2) != whole  # seeded
    by_fold = split_queries(qrels, fold=0, validation_fraction=0.2, seed=1)
    assert all(int(q.split()[1]) % 2 == 0 for q in by_fold.train + by_fold.validation)
    assert by_fold.test == tuple(sorted(f"query {i}" for i in range(1, 20, 2)))
    assert len(by_fold.validation) == 2


def test_adding_a_query_moves_at_most_one_other_out_of_validation() -> None:
    rows = [(f"query {i}", f"P-{i}", 3, None) for i in range(20)]
    before = split_queries(qrels_of(rows), validation_fraction=0.2, seed=1)
    after = split_queries(
        qrels_of([*rows, ("new", "P-0", 3, None)]), validation_fraction=0.2, seed=1
    )
    assert len(after.validation) == len(before.validation) == 4  # round(21 * 0.2) is 4 too
    assert set(after.validation) - {"new"} <= set(before.validation)
    assert len(set(before.validation) - set(after.validation)) <= 1


def test_split_refuses_a_pool_without_two_answerable_queries() -> None:
    qrels = qrels_of([("only", "P-1", 3, 0), ("other", "P-2", 3, 1)])
    with pytest.raises(TrainingDataError, match="fold 0"):
        split_queries(qrels, fold=0)
    with pytest.raises(TrainingDataError, match="at least 2"):
        split_queries(qrels_of([("only", "P-1", 2, None), ("none", "P-1", 1, None)]))


def test_split_always_leaves_one_query_to_train_on() -> None:
    qrels = qrels_of([("a", "P-1", 3, None), ("b", "P-2", 3, None)])
    split = split_queries(qrels, validation_fraction=0.9)
    assert len(split.train) == 1 and len(split.validation) == 1


# --------------------------------------------------------------------------- mining and rows


GRADES = {"REL": 3, "ALSO": 2, "RELATED": 1, "ZERO": 0}


def test_hard_negatives_are_top_candidates_below_the_cut_hardest_first() -> None:
    found = Candidates(
        query="q",
        bm25=("REL", "ZERO", "RELATED", "U1", "DEEP"),
        vector=("U2", "ALSO", "U1", "ZERO"),
    )
    assert hard_negatives(GRADES, found, depth=4) == ["U2", "ZERO", "U1"]
    assert hard_negatives(GRADES, found, depth=None) == ["U2", "ZERO", "U1", "DEEP"]
    # cut at 2: the related product becomes a negative too
    assert hard_negatives(GRADES, found, depth=4, below=2) == ["U2", "ZERO", "RELATED", "U1"]


def passage_of(query: str, product: str) -> str | None:
    return None if product == "GONE" else f"{product} text"


def test_rows_pair_each_positive_with_its_turn_of_negatives() -> None:
    qrels = qrels_of(
        [
            ("q", "REL", 3, None),
            ("q", "ALSO", 2, None),
            ("q", "RELATED", 1, None),
            ("q", "GONE", 3, None),
            ("q", "N1", 0, None),
        ]
    )
    found = {"q": Candidates(query="q", bm25=("N1", "N2", "RELATED"), vector=("N3", "REL"))}
    rows, left_out = build_examples(qrels, ["q"], found, passage_of, negatives=2, depth=5)
    assert left_out == []
    assert [r.positive_product for r in rows] == ["ALSO", "REL"]  # GONE has no passage
    assert [r.negative_products for r in rows] == [("N1", "N3"), ("N2", "N1")]
    assert rows[0].texts == ("q", "ALSO text", "N1 text", "N3 text")
    assert rows[0].kept_apart == frozenset({"REL", "ALSO", "RELATED", "GONE"})


def test_queries_without_a_negative_or_a_positive_are_left_out() -> None:
    qrels = qrels_of(
        [
            ("all good", "A", 3, None),
            ("all good", "B", 2, None),
            ("gone", "GONE", 3, None),
            ("deep", "A", 3, None),
            ("unmined", "A", 3, None),
        ]
    )
    found = {
        "all good": Candidates(query="all good", bm25=("A", "B"), vector=("B",)),
        "gone": Candidates(query="gone", bm25=("X",), vector=()),
        "deep": Candidates(query="deep", bm25=("A", "B", "C", "D"), vector=()),
    }
    rows, left_out = build_examples(
        qrels, ["all good", "gone", "deep", "unmined"], found, passage_of, negatives=1, depth=1
    )
    assert left_out == ["all good", "gone", "unmined"]
    assert [(r.query, r.negative_products) for r in rows] == [("deep", ("B",))]  # from deeper


def example(
    query: str, positive: str, *negatives: str, kept_apart: tuple[str, ...] = ()
) -> Example:
    return Example(
        query=query,
        positive=f"{positive} text",
        negatives=tuple(f"{n} text" for n in negatives),
        positive_product=positive,
        negative_products=negatives,
        kept_apart=frozenset({positive, *kept_apart}),
    )


def test_rows_that_would_teach_a_false_negative_clash() -> None:
    a = example("tomato feed", "FEED", "SLUG")
    assert clash(a, example("tomato feed", "OTHER", "X"))  # one query twice
    assert not clash(a, example("slug pellets", "PELLETS", "SLUG"))  # a shared negative
    same_text = replace(example("x", "OTHER", "Y"), positive="SLUG text")
    assert clash(a, same_text) and clash(same_text, a)  # one passage, two products
    assert clash(a, example("plant food", "FOOD", "X", kept_apart=("FEED",)))  # FEED related there
    assert clash(example("plant food", "FOOD", "X", kept_apart=("FEED",)), a)
    assert not clash(a, example("secateurs", "SHEARS", "X"))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.integers(0, 12), st.integers(0, 12)),
        min_size=1,
        max_size=40,
    ),
    st.integers(2, 8),
    st.integers(0, 3),
)
def test_batches_hold_every_row_once_and_no_clash(
    rows: list[tuple[int, int, int]], size: int, seed: int
) -> None:
    examples = [example(f"q{q}", f"P{p}", f"N{n}") for q, p, n in rows]
    packed = batches(examples, size=size, seed=seed)
    assert sorted(map(id, (e for b in packed for e in b))) == sorted(map(id, examples))
    for batch in packed:
        assert 1 <= len(batch) <= size
        assert not any(clash(x, y) for i, x in enumerate(batch) for y in batch[i + 1 :])
    assert batches(examples, size=size, seed=seed) == packed  # deterministic


def test_data_hash_follows_the_data_not_its_order() -> None:
    rows = [example("q", "A", "B")]
    corpus = [
        Passage(chunk_id="1", product_id="A", text="a"),
        Passage(chunk_id="2", product_id="B", text="b"),
    ]
    first = data_sha256(rows, {"v": {"A": 3}}, corpus)
    assert data_sha256(rows, {"v": {"A": 3}}, corpus[::-1]) == first
    assert data_sha256(rows, {"v": {"A": 2}}, corpus) != first
    assert data_sha256([example("q", "A", "C")], {"v": {"A": 3}}, corpus) != first
    changed = [corpus[0], Passage(chunk_id="2", product_id="B", text="b!")]
    assert data_sha256(rows, {"v": {"A": 3}}, changed) != first


CORPUS = [
    Passage(chunk_id="h1", product_id="HOSE", text="Garden Hose 50 ft\nBrand: Aquaflow"),
    Passage(chunk_id="h2", product_id="HOSE", text="Garden Hose (description): kink-free hoses."),
    Passage(chunk_id="r1", product_id="REEL", text="Hose Reel for a 30 m hose"),
    Passage(chunk_id="f1", product_id="FEED", text="Tomato Feed 1 L\nBrand: Terravita"),
    Passage(chunk_id="s1", product_id="SPADE", text="Stainless Digging Spade"),
]


def test_local_bm25_matches_the_analysed_terms() -> None:
    bm25 = LocalBM25(CORPUS)
    assert bm25.products("hoses", 10) == ["HOSE", "REEL"]  # stemmed: "hoses" is "hose"
    assert bm25.products("50ft hose", 10)[0] == "HOSE"  # "50 ft" is the quantity 50ft
    assert bm25.products("the", 10) == []  # a stop word matches nothing
    assert bm25.products("brand", 1) in (["HOSE"], ["FEED"]) and len(bm25.products("brand", 9)) == 2


def test_products_rank_by_their_best_chunk_and_rows_take_it() -> None:
    scores = np.asarray([0.1, 0.9, 0.5, 0.2, 0.0])
    assert products_by_score(scores, CORPUS) == ["HOSE", "REEL", "FEED", "SPADE"]
    vectors = np.eye(5, dtype=np.float32)
    queries = {"q": np.asarray([0.2, 0.7, 0.1, 0, 0], dtype=np.float32)}
    best = BestPassage(CORPUS, vectors, queries)
    assert best("q", "HOSE") == CORPUS[1].text
    assert best("q", "NOT INDEXED") is None
    found = local_candidates(["q"], CORPUS, vectors, queries, k=2)
    assert found["q"].vector == ("HOSE", "REEL") and found["q"].bm25 == ()


# --------------------------------------------------------------------------- the model repository


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A copy of the bundled repository (minilm: config.pbtxt and version 1)."""
    return triton_stack.seed_repository(tmp_path / "models")


def fingerprint_for(version: int) -> dict[str, Any]:
    return {
        "base_model": "b",
        "data_sha256": "0" * 64,
        "params": {},
        "dimension": 384,
        "created": "now",
        "version": version,
    }


def test_versions_are_numbered_folders_only(repository: Path) -> None:
    model = repository / "minilm"
    for name in ("3", "07", ".finetune-x", "notes"):
        (model / name).mkdir()
    assert versions(repository, "minilm") == [1, 3]
    assert next_version(repository, "minilm") == 4
    assert next_version(repository, "other") == 1


def test_a_version_is_written_whole_under_the_next_number(repository: Path) -> None:
    def weights(folder: Path) -> None:
        folder.mkdir()
        (folder / "modules.json").write_text("[]")
        assert not (repository / "minilm" / "2").exists()  # nothing visible while writing

    version, path = write_version(
        repository, "minilm", save_weights=weights, fingerprint=fingerprint_for
    )
    assert (version, path) == (2, repository / "minilm" / "2")
    assert (path / "model.py").read_bytes() == (BUNDLED / "minilm" / "1" / "model.py").read_bytes()
    assert (path / "weights" / "modules.json").is_file()
    written = json.loads((path / "fingerprint.json").read_text())
    assert set(written) >= IDENTITY_KEYS and written["version"] == 2
    assert [p.name for p in (repository / "minilm").iterdir() if p.name.startswith(".")] == []


def test_a_number_taken_meanwhile_is_skipped(repository: Path) -> None:
    def weights_while_another_writes(folder: Path) -> None:
        folder.mkdir()
        (repository / "minilm" / "2").mkdir()  # another finetune took 2 meanwhile
        (repository / "minilm" / "2" / "model.py").write_text("# theirs")

    version, path = write_version(
        repository, "minilm", save_weights=weights_while_another_writes, fingerprint=fingerprint_for
    )
    assert version == 3 and json.loads((path / "fingerprint.json").read_text())["version"] == 3
    assert (repository / "minilm" / "2" / "model.py").read_text() == "# theirs"


def test_a_failed_write_leaves_no_version(repository: Path) -> None:
    def broken(folder: Path) -> None:
        folder.mkdir()
        raise OSError("disk full")

    with pytest.raises(RepositoryError, match="disk full"):
        write_version(repository, "minilm", save_weights=broken, fingerprint=fingerprint_for)
    assert sorted(p.name for p in (repository / "minilm").iterdir()) == ["1", "config.pbtxt"]
    with pytest.raises(RepositoryError, match="no model 'other'"):
        write_version(repository, "other", save_weights=broken, fingerprint=fingerprint_for)


def test_the_base_is_the_stock_model_a_version_or_a_folder(repository: Path) -> None:
    stock = resolve_base(None, repository, "minilm")
    assert stock == Base(name="sentence-transformers/all-MiniLM-L6-v2", path=stock_weights())
    assert resolve_base("1", repository, "minilm").path == stock_weights()
    tuned = repository / "minilm" / "2"
    (tuned / "weights").mkdir(parents=True)
    (tuned / "fingerprint.json").write_text("{}")
    base = resolve_base("2", repository, "minilm")
    assert (base.name, base.path, base.version) == ("minilm/2", tuned / "weights", 2)
    assert base.fingerprint is not None
    assert resolve_base(str(stock_weights()), repository, "minilm").path == stock_weights()
    with pytest.raises(BaseModelError, match="no version 5"):
        resolve_base("5", repository, "minilm")
    (repository / "minilm" / "3").mkdir()
    with pytest.raises(BaseModelError, match="no weights/"):
        resolve_base("3", repository, "minilm")
    with pytest.raises(BaseModelError, match=r"modules\.json"):
        resolve_base(str(repository), repository, "minilm")


def test_the_stack_serves_a_seeded_copy_and_says_where(tmp_path: Path) -> None:
    home = tmp_path / "home"
    served = triton_stack.served_repository(home)
    extra = served / "minilm" / "2"
    extra.mkdir(parents=True)
    (extra / "fingerprint.json").write_text("{}")
    (served / "minilm" / "config.pbtxt").write_text("stale")
    triton_stack.seed_repository(served)
    assert (served / "minilm" / "config.pbtxt").read_bytes() == (
        BUNDLED / "minilm" / "config.pbtxt"
    ).read_bytes()
    assert (extra / "fingerprint.json").is_file()  # a fine-tuned version stays
    spec = triton_stack.spec()
    env = spec.settings_env(home, {"http": 1, "grpc": 2, "metrics": 3})
    assert env["FRESHINDEX_MODEL_REPOSITORY"] == str(served)
    given = triton_stack.spec(tmp_path / "elsewhere").settings_env(home, {"http": 1, "grpc": 2})
    assert given["FRESHINDEX_MODEL_REPOSITORY"] == str((tmp_path / "elsewhere").resolve())


@pytest.fixture
def triton_model_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    """The python-backend model.py, imported with a stand-in for Triton's utils module."""
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", types.ModuleType("pb_utils"))
    spec = importlib.util.spec_from_file_location(
        "stock_model", BUNDLED / "minilm" / "1" / "model.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module


def test_a_version_loads_the_weights_beside_it_else_the_stock_ones(
    triton_model_module: types.ModuleType, repository: Path
) -> None:
    weights = triton_model_module._weights
    model = repository / "minilm"
    (model / "2" / "weights").mkdir(parents=True)
    assert weights({"model_repository": str(model), "model_version": "2"}) == str(
        model / "2" / "weights"
    )
    assert weights({"model_repository": str(model), "model_version": "1"}) == str(stock_weights())


# --------------------------------------------------------------------------- training for real

FEED = [
    ("H-1", "Garden Hose 50 ft", "A kink-free garden hose for watering lawns and beds."),
    ("H-2", "Hose Reel Cart", "A wheeled reel that stores a long garden hose."),
    ("F-1", "Tomato Feed 1 L", "Liquid fertiliser high in potash for tomatoes and peppers."),
    ("F-2", "Rose Food 1 kg", "Granular fertiliser for roses and flowering shrubs."),
    ("S-1", "Digging Spade", "A stainless steel spade for digging heavy soil."),
    ("S-2", "Border Fork", "A small fork for weeding between plants in borders."),
    ("P-1", "Slug Pellets 700 g", "Wildlife-friendly pellets that protect seedlings from slugs."),
    ("G-1", "Leather Gloves", "Thorn-proof gloves for pruning roses."),
]
QRELS = [
    ("hose for watering the garden", "H-1", 3, 0),
    ("hose for watering the garden", "H-2", 1, 0),
    ("plant food for tomatoes", "F-1", 3, 0),
    ("plant food for tomatoes", "F-2", 0, 0),
    ("tool to dig the soil", "S-1", 3, 0),
    ("tool to dig the soil", "S-2", 1, 0),
    ("stop slugs eating seedlings", "P-1", 3, 1),
    ("feed my roses", "F-2", 3, 1),
    ("gloves against thorns", "G-1", 3, 1),
]


@pytest.fixture
def tiny(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> dict[str, Path]:
    clean_env.setenv("FRESHINDEX_SEMANTIC_CHUNKING", "false")
    clean_env.setenv("FRESHINDEX_DEDUP_ENABLED", "false")
    clean_env.setenv("FRESHINDEX_MODEL_REPOSITORY", str(tmp_path / "models"))
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text(
        "".join(
            json.dumps({"id": i, "title": t, "description": d, "brand": "Acre"}) + "\n"
            for i, t, d in FEED
        )
    )
    qrels = tmp_path / "qrels.jsonl"
    qrels.write_text(
        "".join(
            json.dumps({"query": q, "product_id": p, "grade": g, "fold": f}) + "\n"
            for q, p, g, f in QRELS
        )
    )
    triton_stack.seed_repository(tmp_path / "models")
    return {"catalog": catalog, "qrels": qrels, "models": tmp_path / "models"}


def test_without_the_index_or_a_catalog_it_says_why(tiny: dict[str, Path]) -> None:
    result = CliRunner().invoke(app, ["finetune", "--qrels", str(tiny["qrels"]), "--no-index"])
    assert result.exit_code == 1
    assert "no corpus to train on: --no-index, and no --catalog" in result.output


def test_a_real_training_run_writes_a_version_that_loads_back(tiny: dict[str, Path]) -> None:
    from workers.finetune import model as models

    args = ["finetune", "--qrels", str(tiny["qrels"]), "--no-index", "--catalog"]
    args += [str(tiny["catalog"]), "--fold", "0", "--epochs", "1", "--batch-size", "2", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["version"] == 2 and summary["path"] == str(tiny["models"] / "minilm" / "2")
    assert summary["before"]["test"]["queries"] == 3 and "ndcg@10" in summary["after"]["test"]
    assert summary["before"]["validation"]["queries"] == 1
    assert summary["queries"]["train_queries"] == 2 and summary["queries"]["rows"] == 2
    assert "in process" in summary["mining"] and "--no-index" in summary["mining"]
    assert [e["epoch"] for e in summary["training"]["epochs"]] == [0, 1]
    folder = Path(summary["path"])
    fingerprint = json.loads((folder / "fingerprint.json").read_text())
    assert set(fingerprint) >= IDENTITY_KEYS
    assert fingerprint["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert fingerprint["dimension"] == 384 and fingerprint["params"]["epochs"] == 1
    loaded = models.load(folder / "weights")
    assert models.embed(loaded, ["garden hose"]).shape == (1, 384)


def test_training_keeps_the_best_epoch() -> None:
    import torch

    from workers.finetune import model as models

    rows = [
        example("hose for the garden", "H", "N1", "N2"),
        example("food for tomatoes", "F", "N3", "N4"),
    ]
    params = Params(epochs=1, batch_size=2, negatives=2, max_seq_length=16)
    base = models.load(stock_weights())
    before = {k: v.clone() for k, v in base.state_dict().items()}
    kept = models.train(base, rows, params, baseline=0.5, validate=lambda: 0.4)
    assert kept.best_epoch == 0 and kept.steps == 1
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())
    better = models.train(base, rows, params, baseline=0.5, validate=lambda: 0.6)
    assert better.best_epoch == 1 and better.epochs[1].loss is not None
    changed = [k for k, v in base.state_dict().items() if not torch.equal(before[k], v)]
    assert changed and not any("word_embeddings" in k for k in changed)  # frozen
    assert base.max_seq_length == 256  # the training limit is not kept
    with pytest.raises(TrainingDataError):
        models.train(base, [], params, baseline=0.5, validate=lambda: 0.6)


def test_params_are_bounded() -> None:
    with pytest.raises(ValueError, match="epochs"):
        Params(epochs=0)
    with pytest.raises(ValueError, match="validation_fraction"):
        Params(validation_fraction=1.0)
    assert Params().as_dict()["negative_below"] == finetune_data.NEGATIVE_BELOW
