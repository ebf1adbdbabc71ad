"""Semantic breakpoints: distances between neighbouring sentences, token-bounded recursive cuts
at the largest distance, and the bundled sentence encoder with its cache."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from ingest.prepare.semantic import (
    LocalSentenceEncoder,
    Vectors,
    adjacent_distances,
    semantic_groups,
)


def unit(*components: float) -> npt.NDArray[np.float32]:
    vector = np.array(components, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def topics(*runs: tuple[int, int], dim: int = 4) -> Vectors:
    """`(topic, count)` runs of identical one-hot vectors, one row per sentence."""
    rows = [np.eye(dim, dtype=np.float32)[t] for t, count in runs for _ in range(count)]
    return np.stack(rows)


def check_groups(groups: list[range], sizes: Sequence[int], room: int) -> None:
    """Non-empty consecutive ranges covering every sentence once, in order, each within room."""
    assert [i for g in groups for i in g] == list(range(len(sizes)))
    assert all(len(g) > 0 and g.step == 1 for g in groups)
    assert all(sum(sizes[i] for i in g) <= room for g in groups)


# --------------------------------------------------------------------------- adjacent_distances


def test_distances_of_fewer_than_two_sentences() -> None:
    assert adjacent_distances(np.zeros((0, 3), dtype=np.float32)) == []
    assert adjacent_distances(topics((0, 1))) == []


def test_one_distance_per_boundary_zero_within_a_topic() -> None:
    vectors = topics((0, 3), (1, 3))
    assert adjacent_distances(vectors, window=1) == [0.0, 0.0, 1.0, 0.0, 0.0]


def test_window_smooths_but_the_topic_boundary_stays_the_peak() -> None:
    distances = adjacent_distances(topics((0, 4), (1, 4)), window=2)
    assert len(distances) == 7
    assert distances.index(max(distances)) == 3 and distances[3] == 1.0
    assert distances[2] == distances[4] and 0 < distances[2] < 1  # half the window crosses over
    assert distances[:2] == [0.0, 0.0] and distances[5:] == [0.0, 0.0]


def test_distances_are_rounded_to_four_decimals() -> None:
    vectors = np.stack([unit(1, 0), unit(1, 0.1), unit(0.3, 1)])
    for d in adjacent_distances(vectors, window=1):
        assert d == round(d, 4)
        assert 0.0 <= d <= 2.0


def test_opposite_vectors_are_distance_two() -> None:
    assert adjacent_distances(np.stack([unit(1, 0), unit(-1, 0)]), window=1) == [2.0]


# --------------------------------------------------------------------------- semantic_groups


def test_text_that_fits_is_one_group() -> None:
    assert semantic_groups([10, 10, 10], [0.9, 0.1], room=30) == [range(0, 3)]
    assert semantic_groups([], [], room=30) == []
    assert semantic_groups([5], [], room=5) == [range(0, 1)]


def test_cut_at_the_most_distant_boundary() -> None:
    #                  boundary: 0    1    2    3    4    5    6
    distances = [0.1, 0.2, 0.8, 0.1, 0.3, 0.1, 0.1]
    groups = semantic_groups([10] * 8, distances, room=50)
    assert groups == [range(0, 3), range(3, 8)]


def test_each_part_is_cut_again_at_its_own_most_distant_boundary() -> None:
    distances = [0.1, 0.5, 0.1, 0.1, 0.9, 0.1, 0.1, 0.6, 0.1, 0.1, 0.1]
    groups = semantic_groups([10] * 12, distances, room=40)
    assert groups == [range(0, 2), range(2, 5), range(5, 8), range(8, 12)]


def test_balanced_cut_preferred_over_a_sliver() -> None:
    # the largest distance would leave one 10-token sentence alone (under a quarter of 60)
    distances = [0.95, 0.1, 0.1, 0.1, 0.5, 0.1, 0.1, 0.1, 0.1]
    groups = semantic_groups([10] * 10, distances, room=60)
    assert groups == [range(0, 5), range(5, 10)]


def test_sliver_when_no_balanced_cut_exists() -> None:
    assert semantic_groups([59, 2], [0.1], room=60) == [range(0, 1), range(1, 2)]


def test_equal_distances_cut_in_the_middle() -> None:
    assert semantic_groups([10] * 8, [0.3] * 7, room=60) == [range(0, 4), range(4, 8)]


def test_a_sentence_over_the_room_is_an_error() -> None:
    with pytest.raises(ValueError, match="exceeds the room"):
        semantic_groups([10, 61, 10], [0.1, 0.2], room=60)


@pytest.mark.parametrize("seed", range(20))
def test_random_inputs_give_bounded_covering_groups(seed: int) -> None:
    rng = random.Random(seed)
    room = rng.randint(20, 300)
    sizes = [rng.randint(1, room) for _ in range(rng.randint(1, 200))]
    distances = [round(rng.random(), 4) for _ in range(len(sizes) - 1)]
    groups = semantic_groups(sizes, distances, room)
    check_groups(groups, sizes, room)
    assert semantic_groups(list(sizes), list(distances), room) == groups  # deterministic


@pytest.mark.parametrize("seed", range(5))
def test_small_sentences_never_make_groups_under_a_quarter_of_the_room(seed: int) -> None:
    rng = random.Random(seed)
    sizes = [rng.randint(1, 10) for _ in range(300)]
    distances = [rng.random() for _ in range(299)]
    groups = semantic_groups(sizes, distances, room=100)
    check_groups(groups, sizes, 100)
    assert min(sum(sizes[i] for i in g) for g in groups) >= 100 // 4


@pytest.mark.parametrize("shape", ["random", "increasing", "decreasing"])
def test_three_thousand_sentences_do_not_recurse_too_deep(shape: str) -> None:
    n = 3000
    rng = random.Random(7)
    sizes = [rng.randint(1, 30) for _ in range(n)]
    distances = {
        "random": [rng.random() for _ in range(n - 1)],
        "increasing": [i / n for i in range(n - 1)],  # cuts peel the end off, one at a time
        "decreasing": [1 - i / n for i in range(n - 1)],
    }[shape]
    groups = semantic_groups(sizes, distances, room=120)
    check_groups(groups, sizes, 120)


# --------------------------------------------------------------------------- LocalSentenceEncoder


@dataclass
class CountingModel:
    """Stands in for SentenceTransformer: a vector per sentence length, every call recorded."""

    calls: list[list[str]] = field(default_factory=list)

    def encode(self, sentences: list[str], **options: Any) -> Vectors:
        assert options["normalize_embeddings"] is True
        self.calls.append(list(sentences))
        return np.stack([unit(1.0, float(len(s))) for s in sentences])


class CountingEncoder(LocalSentenceEncoder):
    def __init__(self, cache_size: int = 50_000) -> None:
        super().__init__(cache_size=cache_size)
        self.model = CountingModel()

    def _load(self) -> Any:
        return self.model


def test_cache_encodes_each_sentence_once() -> None:
    encoder = CountingEncoder()
    first = encoder.encode(["a b", "c d e", "a b"])
    assert encoder.model.calls == [["a b", "c d e"]]  # duplicates within a call encoded once
    assert first.shape == (3, 2) and first.dtype == np.float32
    np.testing.assert_array_equal(first[0], first[2])
    again = encoder.encode(["c d e", "f", "a b"])
    assert encoder.model.calls == [["a b", "c d e"], ["f"]]
    np.testing.assert_array_equal(again[0], first[1])
    np.testing.assert_array_equal(again[2], first[0])


def test_cache_evicts_the_least_recently_used() -> None:
    encoder = CountingEncoder(cache_size=2)
    encoder.encode(["one", "two"])
    encoder.encode(["one"])  # "two" is now the least recently used
    encoder.encode(["three"])
    encoder.encode(["one", "two"])
    assert encoder.model.calls == [["one", "two"], ["three"], ["two"]]


def test_bundled_model_similar_sentences_are_closer() -> None:
    encoder = LocalSentenceEncoder()
    sentences = [
        "Dilute 20 ml of the feed in a watering can.",
        "Mix the concentrate with water before feeding your tomatoes.",
        "The mower has a 42 cm steel cutting deck.",
        "Store the bottle upright, away from frost.",
    ]
    vectors = encoder.encode(sentences)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.3
    assert similarity[1, 0] > similarity[1, 2] + 0.3
    cached = encoder.encode(sentences[::-1])
    np.testing.assert_array_equal(cached[::-1], vectors)
    distances = adjacent_distances(vectors, window=1)
    assert distances[0] < distances[1]  # feed | feed is closer than feed | mower
