"""The learning-to-rank stage (`workers.retrieval.ltr`, `workers.retrieval.training`): a model
trained where relevance follows a feature ranks by it on queries it has not seen; its files
round-trip, and a card that does not fit this code is refused with the reason."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import numpy as np
import pytest

from tests.unit.fakes import HashEmbedder
from tests.unit.test_features import candidate
from tests.unit.test_retrieval_api import DIM, lance, settings_with  # noqa: F401 - fixture
from workers.errors import RankerMisconfigured
from workers.index.lancedb import LanceIndex
from workers.relevance import parse_qrels
from workers.retrieval import training
from workers.retrieval.features import FEATURES, product_features
from workers.retrieval.fusion import Candidate, best_per_product, restage
from workers.retrieval.ltr import (
    MODEL_FORMAT,
    LtrRanker,
    install,
    installed_ranker,
    load_ranker,
    write_model,
)
from workers.retrieval.pipeline import Query, Retriever
from workers.retrieval.server import reload_ranker

WORDS = ["hose", "rake", "spade", "trowel", "shears", "feed", "compost", "netting", "fleece"]
WORDS += ["mower", "trimmer", "blower", "pellets", "seeds", "tap", "butt", "trap", "gloves"]


def _query_and_candidates(rng: random.Random) -> tuple[str, list[Candidate], str]:
    """A query of two words; ten products whose fused order is random; the one whose title has
    both words is the relevant one (its BM25 and vector scores are no better than the rest)."""
    a, b = rng.sample(WORDS, 2)
    titles = [f"{a} {b} deluxe"] + [f"{rng.choice(WORDS)} {rng.choice(WORDS)}" for _ in range(9)]
    order = list(range(10))
    rng.shuffle(order)
    found = []
    for position, i in enumerate(order, start=1):
        scores = {"bm25": rng.uniform(1, 9), "vector": rng.uniform(0.2, 0.8), "fused": 1 / position}
        ranks = {"bm25": rng.randint(1, 10), "vector": rng.randint(1, 10), "fused": position}
        found.append(candidate(f"P{i}", titles[i], scores=scores, ranks=ranks))
    return f"{a} {b}", found, "P0"


def _groups(n: int, seed: int) -> list[training.Group]:
    rng = random.Random(seed)
    out = []
    for q in range(n):
        text, found, relevant = _query_and_candidates(rng)
        products, features = product_features(text, found)
        labels = np.asarray([3 if p == relevant else 0 for p in products], dtype=np.int32)
        out.append(
            training.Group(
                query=f"{text} #{q}",
                mode="hybrid",
                products=products,
                features=features,
                labels=labels,
            )
        )
    return out


@pytest.fixture(scope="module")
def model_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    booster = training.fit(_groups(60, seed=1), rounds=50)
    folder = tmp_path_factory.mktemp("model")
    fields = {"created_at": "20261201T000000Z", "qrels": {"path": "synthetic"}}
    return write_model(folder, fields, booster.model_to_string())


def test_a_trained_model_ranks_by_what_relevance_followed(model_card: Path) -> None:
    ranker = load_ranker(model_card)
    rng = random.Random(99)  # queries the model has not seen
    first = 0
    for _ in range(30):
        text, found, relevant = _query_and_candidates(rng)
        scores = asyncio.run(ranker.score(text, found))
        assert len(scores) == len(found)
        best = max(range(len(found)), key=lambda i: scores[i])
        first += found[best].product_id == relevant
    assert first >= 27, first  # fused order alone puts it first 1 time in 10


def test_chunks_of_a_product_share_its_score(model_card: Path) -> None:
    ranker = load_ranker(model_card)
    found = [
        candidate("A", "hose reel"),
        candidate("B", "garden hose"),
        candidate("A", "hose reel", chunk=1, text="hose reel: more"),
    ]
    scores = asyncio.run(ranker.score("garden hose", found))
    assert scores[0] == scores[2]


def test_model_files_round_trip(model_card: Path) -> None:
    card = json.loads(model_card.read_text())
    assert card["format"] == MODEL_FORMAT and card["features"] == list(FEATURES)
    assert (model_card.parent / card["model_file"]).read_text().startswith("tree")
    assert model_card.name == f"ranker-{card['name']}.json"
    ranker = load_ranker(model_card)
    assert ranker.name == f"ltr:{card['name']}" and card["name"].startswith("lambdamart-")
    assert card["qrels"] == {"path": "synthetic"} and card["lightgbm_version"]


def _copy(card: Path, folder: Path, **changes: object) -> Path:
    folder.mkdir(exist_ok=True)
    raw = json.loads(card.read_text())
    model = card.parent / raw["model_file"]
    (folder / raw["model_file"]).write_bytes(model.read_bytes())
    path = folder / card.name
    path.write_text(json.dumps(raw | changes))
    return path


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"format": MODEL_FORMAT + 1}, "has format 2, this freshindex reads 1"),
        ({"feature_version": 0}, "trained on features version 0"),
        ({"features": ["bm25_score"]}, "(1 features)"),
        ({"model_sha256": "0" * 64}, "changed since it was written"),
        ({"model_file": "missing.txt"}, "cannot be read"),
        ({"surprise": 1}, "do not fit format"),
    ],
)
def test_a_card_that_does_not_fit_is_refused_with_the_reason(
    model_card: Path, tmp_path: Path, changes: dict[str, object], reason: str
) -> None:
    path = _copy(model_card, tmp_path / "bad", **changes)
    with pytest.raises(RankerMisconfigured) as refused:
        load_ranker(path)
    assert reason in str(refused.value)
    assert str(path) in str(refused.value) and "FRESHINDEX_RANKER_PATH" in str(refused.value)


def test_an_unreadable_card_or_model_is_refused(model_card: Path, tmp_path: Path) -> None:
    broken = tmp_path / "ranker.json"
    broken.write_text("{not json")
    with pytest.raises(RankerMisconfigured, match="cannot read it"):
        load_ranker(broken)
    path = _copy(model_card, tmp_path / "garbled")
    model = path.parent / json.loads(path.read_text())["model_file"]
    model.write_text("garbage")
    path.write_text(
        json.dumps(
            json.loads(path.read_text())
            | {"model_sha256": __import__("hashlib").sha256(b"garbage").hexdigest()}
        )
    )
    with pytest.raises(RankerMisconfigured, match="LightGBM cannot load"):
        load_ranker(path)


def test_install_replaces_the_installed_card(model_card: Path, tmp_path: Path) -> None:
    target = model_card.parent / "ranker.json"
    assert installed_ranker(target) is None  # nothing installed: no ranking stage
    install(model_card, target)
    installed = installed_ranker(target)
    assert installed is not None and installed.card == load_ranker(model_card).card
    with pytest.raises(ValueError, match="must be in the folder"):
        install(model_card, tmp_path / "elsewhere.json")


def test_the_retriever_orders_by_the_model_and_says_so(
    lance: LanceIndex,  # noqa: F811 - the fixture
    model_card: Path,
) -> None:
    ranker = load_ranker(model_card)
    retriever = Retriever(settings_with(), index=lance, embedder=HashEmbedder(dim=DIM))
    retriever.ranker = ranker
    found = asyncio.run(retriever.search(Query(text="garden hose", k=3)))
    assert found.ranker == ranker.name
    assert all("rank" in c.scores and "fused" in c.scores for c in found.results)
    ranks = [c.ranks["rank"] for c in found.results]
    assert ranks == sorted(ranks)
    plain = asyncio.run(retriever.search(Query(text="garden hose", k=3, rerank=False)))
    assert plain.ranker is None and all("rank" not in c.scores for c in plain.results)
    candidates = asyncio.run(retriever.candidates(Query(text="garden hose", k=3)))
    assert {c.product_id for c in found.results} <= {c.product_id for c in candidates}
    asyncio.run(retriever.close())


def test_sighup_reloads_the_installed_model_and_keeps_it_when_the_new_one_is_bad(
    lance: LanceIndex,  # noqa: F811 - the fixture
    model_card: Path,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "ranker"
    card = _copy(model_card, folder)
    target = folder / "ranker.json"
    retriever = Retriever(
        settings_with(ranker_path=target), index=lance, embedder=HashEmbedder(dim=DIM)
    )
    reload_ranker(retriever)
    assert retriever.ranker is None  # none installed yet
    install(card, target)
    reload_ranker(retriever)
    assert isinstance(retriever.ranker, LtrRanker)
    target.write_text("{broken")
    reload_ranker(retriever)  # logged, and the model stays
    assert isinstance(retriever.ranker, LtrRanker)
    asyncio.run(retriever.close())


def test_training_on_the_live_index_validates_on_held_out_queries(
    lance: LanceIndex,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    lines = [
        {"query": "garden hose", "product_id": "HOSE", "grade": 3, "fold": 0},
        {"query": "tomato feed", "product_id": "FEED", "grade": 3, "fold": 0},
        {"query": "garden rake", "product_id": "RAKE", "grade": 3, "fold": 1},
        {"query": "carrot seeds", "product_id": "SEED", "grade": 3, "fold": 1},
    ]
    source = tmp_path / "qrels.jsonl"
    source.write_text("".join(json.dumps(x) + "\n" for x in lines))
    qrels = parse_qrels(source.read_text().splitlines())
    retriever = Retriever(settings_with(), index=lance, embedder=HashEmbedder(dim=DIM))
    groups = asyncio.run(training.collect(retriever, qrels))
    assert {(g.query, g.mode) for g in groups} == {
        (q, m) for q in qrels.queries for m in training.TRAIN_MODES
    }
    assert training.folds(qrels) == (
        ["garden hose", "tomato feed"],
        ["carrot seeds", "garden rake"],
    )
    training.ROUNDS, rounds = 5, training.ROUNDS
    try:
        card_path = asyncio.run(
            training.train(retriever, qrels, qrels_path=source, out=tmp_path / "out")
        )
    finally:
        training.ROUNDS = rounds
    card = json.loads(card_path.read_text())
    assert card["qrels"]["queries"] == 4 and len(card["qrels"]["sha256"]) == 64
    assert [f["held_out"] for f in card["validation"]["folds"]] == [0, 1]
    for fold in card["validation"]["folds"]:
        for side in ("without", "with"):
            assert 0 <= fold["hybrid"][side]["ndcg@10"] <= 1
    assert load_ranker(card_path).card.name == card["name"]
    asyncio.run(retriever.close())


def test_validation_orders_products_exactly_as_search_does(model_card: Path) -> None:
    ranker = load_ranker(model_card)
    rng = random.Random(5)
    for _ in range(20):
        text, found, _ = _query_and_candidates(rng)
        found += [  # second chunks of some products, further down the fused list
            candidate(c.product_id, c.chunk.fields["title"], chunk=1, text="more")
            for c in found[:4]
        ]
        products, features = product_features(text, found)
        group = training.Group(
            query=text, mode="hybrid", products=products, features=features, labels=np.zeros(1)
        )
        searched = restage(found, "rank", ranker.chunk_scores(text, found))
        expected = [c.product_id for c in best_per_product(searched, training.TRAIN_K)]
        assert training.ranked([group], ranker.booster)[text] == expected
        assert training.ranked([group], None)[text] == [
            c.product_id for c in best_per_product(found, training.TRAIN_K)
        ]
