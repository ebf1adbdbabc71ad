"""Training data for the embedding model: pure functions over judged queries and candidates.

Split (`split_queries`): only queries with a relevant product (grade >= `RELEVANT_GRADE`) can
teach or be measured. With a fold given, the queries of that fold are the training pool and the
other fold's are `test` (never trained on, never used to stop). Of the pool, `validation_fraction`
(at least one query, and at least one left to train on) is held out for early stopping and the
before/after report, chosen by the SHA-256 of the seed and the query text: the same queries on
every run, and adding a query to the qrels moves no other one.

Positives: the products judged relevant (grade >= 2). Hard negatives (`hard_negatives`): the
products among the top `depth` candidates of either retrieval stage (BM25, vector) graded below
`below` (default 1: judged not relevant, or unjudged); products graded from `below` up to 1
(related) are neither positive nor negative. They are ordered by their best rank in either stage
(ties by product id), so the hardest come first.

Rows (`build_examples`): one per (query, relevant product): the query, the product's passage,
and `negatives` hard negatives' passages (the positives of one query take the mined negatives in
turn; too few are repeated). A query without a hard negative in the top `depth` takes them from
deeper in its lists; with none at all, or without a positive in the corpus, it is left out and
reported. The passage of a product for a query is the product's chunk the base model finds
closest to the query: the chunk vector search ranks the product by.

Batches (`batches`): MultipleNegativesRankingLoss takes every other row's passages in a batch as
negatives of a query, so a batch never holds two rows of one query, a product a row's query
judged related or better in another row (a false negative), or a row's positive passage in
another row. Two rows may share a hard negative: it is a negative of both.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from workers.finetune.errors import TrainingDataError
from workers.relevance import RELEVANT_GRADE, Qrels

NEGATIVE_BELOW = 1
"""Default grade cut of hard negatives: grade 0 or unjudged."""


@dataclass(frozen=True, kw_only=True)
class Passage:
    """One chunk of the corpus, as the index holds it."""

    chunk_id: str
    product_id: str
    text: str
    """The chunk text (the passage prefix is added when it is embedded)."""


@dataclass(frozen=True, kw_only=True)
class Candidates:
    """One query's candidate products from each retrieval stage, best first."""

    query: str
    bm25: tuple[str, ...]
    vector: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Example:
    """One training row: a query, a relevant product's passage, hard negatives' passages."""

    query: str
    positive: str
    """Passage text of `positive_product`."""
    negatives: tuple[str, ...]
    """Passage texts of `negative_products`, in the same order."""
    positive_product: str
    negative_products: tuple[str, ...]
    kept_apart: frozenset[str]
    """Products `query` grades too high to be a negative of it (related or better): no other
    row of its batch may hold one."""

    @property
    def texts(self) -> tuple[str, ...]:
        return (self.query, self.positive, *self.negatives)

    @property
    def products(self) -> frozenset[str]:
        return frozenset((self.positive_product, *self.negative_products))


@dataclass(frozen=True, kw_only=True)
class Split:
    """Queries (each with a relevant product) by role, each tuple sorted."""

    train: tuple[str, ...]
    validation: tuple[str, ...]
    """Held out of training: early stopping and the before/after report."""
    test: tuple[str, ...]
    """The other fold's queries (with a fold given): reported, never trained or stopped on."""


def split_queries(
    qrels: Qrels, *, fold: int | None = None, validation_fraction: float = 0.2, seed: int = 0
) -> Split:
    """Train / validation / test queries (see the module docstring)."""
    answerable = [q for q in qrels.queries if qrels.relevant(q)]
    if fold is None:
        pool, test = answerable, []
    else:
        pool = [q for q in answerable if qrels.folds.get(q) == fold]
        test = [q for q in answerable if qrels.folds.get(q) == 1 - fold]
    if len(pool) < 2:
        where = "" if fold is None else f" of fold {fold}"
        raise TrainingDataError(
            f"{len(pool)} judged quer{'y' if len(pool) == 1 else 'ies'}{where} with a relevant"
            f" product (grade >= {RELEVANT_GRADE}): at least 2 are needed, one to train on and"
            " one to validate with"
        )
    held = min(len(pool) - 1, max(1, round(len(pool) * validation_fraction)))
    order = sorted(pool, key=lambda q: hashlib.sha256(f"{seed}\x1f{q}".encode()).hexdigest())
    validation = set(order[:held])
    return Split(
        train=tuple(q for q in pool if q not in validation),
        validation=tuple(sorted(validation)),
        test=tuple(test),
    )


def hard_negatives(
    grades: Mapping[str, int],
    candidates: Candidates,
    *,
    depth: int | None,
    below: int = NEGATIVE_BELOW,
) -> list[str]:
    """Products in the top `depth` (None: all) of either stage graded below `below` (unjudged:
    0), hardest first: by best rank in either stage, then product id."""
    best: dict[str, int] = {}
    for stage in (candidates.bm25, candidates.vector):
        for rank, product in enumerate(stage[:depth]):
            if grades.get(product, 0) < below:
                best[product] = min(rank, best.get(product, rank))
    return sorted(best, key=lambda p: (best[p], p))


PassageOf = Callable[[str, str], "str | None"]
"""(query, product id) -> the product's passage for that query; None: not in the corpus."""


def build_examples(
    qrels: Qrels,
    queries: Iterable[str],
    candidates: Mapping[str, Candidates],
    passage_of: PassageOf,
    *,
    negatives: int = 3,
    depth: int = 20,
    below: int = NEGATIVE_BELOW,
) -> tuple[list[Example], list[str]]:
    """The training rows of `queries`, and the queries left out (no positive in the corpus, or
    no negative at all); see the module docstring."""
    if negatives < 1:
        raise ValueError(f"negatives must be >= 1, got {negatives}")
    examples: list[Example] = []
    left_out: list[str] = []
    for query in queries:
        rows = _rows(qrels, query, candidates.get(query), passage_of, negatives, depth, below)
        examples.extend(rows)
        if not rows:
            left_out.append(query)
    return examples, left_out


def _rows(
    qrels: Qrels,
    query: str,
    found: Candidates | None,
    passage_of: PassageOf,
    negatives: int,
    depth: int,
    below: int,
) -> list[Example]:
    grades = qrels.grades[query]
    texts = {p: passage_of(query, p) for p in qrels.relevant(query)}
    positives = sorted(p for p, text in texts.items() if text is not None)
    mined: list[str] = []
    if found is not None:
        mined = hard_negatives(grades, found, depth=depth, below=below)
        mined = mined or hard_negatives(grades, found, depth=None, below=below)
    for product in mined:
        texts[product] = passage_of(query, product)
    mined = [p for p in mined if texts[p] is not None]
    if not positives or not mined:
        return []
    kept_apart = frozenset(p for p, g in grades.items() if g >= below)
    rows = []
    for i, product in enumerate(positives):
        chosen = tuple(mined[(i * negatives + j) % len(mined)] for j in range(negatives))
        rows.append(
            Example(
                query=query,
                positive=_text(texts, product),
                negatives=tuple(_text(texts, p) for p in chosen),
                positive_product=product,
                negative_products=chosen,
                kept_apart=kept_apart,
            )
        )
    return rows


def _text(texts: Mapping[str, str | None], product: str) -> str:
    text = texts[product]
    assert text is not None  # filtered above
    return text


def clash(a: Example, b: Example) -> bool:
    """True when `a` and `b` must not share a batch (see the module docstring)."""
    return (
        a.query == b.query
        or not a.products.isdisjoint(b.kept_apart)
        or not b.products.isdisjoint(a.kept_apart)
        or a.positive in b.texts
        or b.positive in a.texts
    )


def batches(examples: Sequence[Example], *, size: int, seed: int) -> list[list[Example]]:
    """The rows shuffled by `seed` and packed into batches of at most `size` rows, no two of a
    batch clashing; every row lands in exactly one batch."""
    if size < 1:
        raise ValueError(f"batch size must be >= 1, got {size}")
    pending = list(examples)
    random.Random(seed).shuffle(pending)
    out: list[list[Example]] = []
    while pending:
        batch: list[Example] = []
        rest: list[Example] = []
        for example in pending:
            if len(batch) < size and not any(clash(example, other) for other in batch):
                batch.append(example)
            else:
                rest.append(example)
        out.append(batch)
        pending = rest
    return out


def data_sha256(
    examples: Sequence[Example],
    validation: Mapping[str, Mapping[str, int]],
    corpus: Sequence[Passage],
) -> str:
    """SHA-256 of what a model is trained and chosen on: the rows, the validation judgments and
    the corpus it is measured over, as canonical JSON."""
    document = {
        "examples": [[e.query, e.positive, list(e.negatives)] for e in examples],
        "validation": {q: dict(sorted(g.items())) for q, g in sorted(validation.items())},
        "corpus": sorted([p.chunk_id, p.product_id, p.text] for p in corpus),
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
