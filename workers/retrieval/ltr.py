"""The learning-to-rank stage: a LightGBM LambdaRank model over `workers.retrieval.features`.

A trained model is two files in one folder, written by `freshindex train-reranker`
(`workers.retrieval.training`):

    ranker-<name>.lgbm.txt   the LightGBM model, in LightGBM's own text format
    ranker-<name>.json       its card: format, name, feature version and feature list, the
                             model file's name and SHA-256, the LightGBM version, the training
                             qrels (path, SHA-256, queries), parameters, the candidates it was
                             trained on and its validation figures

and a model is *installed* when a card is at `ranker_path` (FRESHINDEX_RANKER_PATH, default
`$FRESHINDEX_HOME/ranker/ranker.json`, a copy of the versioned card, replaced atomically).
`Retriever.open` loads it; `freshindex serve` reloads it on SIGHUP. A card that cannot be used
(unreadable, another format or feature version, other features, a model file missing, changed
or not loading) raises `RankerMisconfigured` naming the file, never a half-working ranker.

The model scores products, not chunks: `LtrRanker.score` groups the candidates by product,
scores each product once and gives every chunk its product's score, so the pipeline's stable
sort keeps each product's chunks in their fused order.

Why LightGBM (not CatBoost): its LambdaRank objective optimises nDCG directly, it trains on a
few thousand (query, product) rows in about a second on one core, its model is a readable text
file that needs no pickle, it handles missing features (NaN) natively, and its wheel is one
library (it links the system's OpenMP runtime) over numpy, scipy and narwhals, all pinned
already; CatBoost's wheel is ~100 MB and brings pandas, graphviz and plotly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workers.errors import RankerMisconfigured
from workers.retrieval.features import FEATURE_VERSION, FEATURES
from workers.retrieval.features import product_features as compute_features
from workers.retrieval.fusion import Candidate

log = logging.getLogger("freshindex.retrieval")

MODEL_FORMAT = 1
"""Version of the card + model file layout; a card of another format is refused."""
SETTING = "FRESHINDEX_RANKER_PATH"


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    """What a ranking model file says about itself (the JSON next to the model)."""

    format: int
    """`MODEL_FORMAT` of the code that wrote it."""
    name: str
    """`lambdamart-<UTC time>-<model hash>`: reported as the response's `ranker`."""
    created_at: str
    feature_version: int
    features: list[str]
    """The feature columns the model was trained on, in order."""
    model_file: str
    """The LightGBM text model, a file name in the card's folder."""
    model_sha256: str
    lightgbm_version: str
    qrels: dict[str, Any] = field(default_factory=dict)
    """The training judgments: path, sha256, queries, judgments."""
    params: dict[str, Any] = field(default_factory=dict)
    """LightGBM parameters and boosting rounds."""
    candidates: dict[str, Any] = field(default_factory=dict)
    """How the training candidates were fetched (modes, k, candidate depths, fusion, index)."""
    validation: dict[str, Any] = field(default_factory=dict)
    """Held-out figures: per validation fold, nDCG@10 etc. with and without the model."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


class LtrRanker:
    """A `Ranker` (`workers.retrieval.ranking`) backed by a LightGBM model."""

    def __init__(self, card: ModelCard, booster: Any, *, path: Path | None = None) -> None:
        self.card = card
        self.booster = booster
        self.path = path
        self.name = f"ltr:{card.name}"

    async def score(self, query: str, candidates: Sequence[Candidate]) -> Sequence[float]:
        """Each candidate's product score (see the module docstring)."""
        return self.chunk_scores(query, candidates)

    def chunk_scores(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        if not candidates:
            return []
        products, scores = self.product_scores(query, candidates)
        by_product = dict(zip(products, scores, strict=True))
        return [by_product[c.product_id] for c in candidates]

    def product_scores(
        self, query: str, candidates: Sequence[Candidate]
    ) -> tuple[list[str], list[float]]:
        products, matrix = compute_features(query, candidates)
        predicted = self.booster.predict(matrix, num_threads=1)
        return products, [float(s) for s in predicted]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_ranker(path: Path) -> LtrRanker:
    """The ranker of the card at `path`; raises `RankerMisconfigured` saying what is wrong."""
    card = read_card(path)
    model = path.parent / card.model_file
    try:
        digest = sha256_of(model)
    except OSError as e:
        raise _bad(path, f"its model file {model} cannot be read: {e}") from e
    if digest != card.model_sha256:
        raise _bad(path, f"its model file {model} changed since it was written (SHA-256 differs)")
    import lightgbm

    try:
        booster = lightgbm.Booster(model_file=str(model))
    except lightgbm.basic.LightGBMError as e:
        raise _bad(path, f"LightGBM cannot load {model}: {e}") from e
    if booster.num_feature() != len(FEATURES):
        raise _bad(
            path, f"the model has {booster.num_feature()} features, the card {len(FEATURES)}"
        )
    log.info("ranking stage %s loaded from %s", card.name, path)
    return LtrRanker(card, booster, path=path)


def read_card(path: Path) -> ModelCard:
    """The card at `path`, checked against this code's format and features."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _bad(path, f"cannot read it: {e}") from e
    if not isinstance(raw, dict):
        raise _bad(path, "it is not a JSON object")
    if raw.get("format") != MODEL_FORMAT:
        raise _bad(
            path,
            f"it has format {raw.get('format')!r}, this freshindex reads {MODEL_FORMAT}:"
            " retrain with `freshindex train-reranker`",
        )
    try:
        card = ModelCard(**raw)
    except TypeError as e:
        raise _bad(path, f"its fields do not fit format {MODEL_FORMAT}: {e}") from e
    if card.feature_version != FEATURE_VERSION or list(card.features) != list(FEATURES):
        raise _bad(
            path,
            f"it was trained on features version {card.feature_version}"
            f" ({len(card.features)} features), this freshindex computes version"
            f" {FEATURE_VERSION} ({len(FEATURES)}): retrain with `freshindex train-reranker`",
        )
    return card


def installed_ranker(path: Path) -> LtrRanker | None:
    """The installed ranker (None when no card is at `path`)."""
    if not path.exists():
        return None
    return load_ranker(path)


def _bad(path: Path, why: str) -> RankerMisconfigured:
    return RankerMisconfigured(f"ranking model {path}: {why}", setting=SETTING)


# --------------------------------------------------------------------------- writing


def write_model(folder: Path, card_fields: dict[str, Any], model_text: str) -> Path:
    """Write `ranker-<name>.lgbm.txt` and its card `ranker-<name>.json` into `folder`; returns
    the card's path. The model goes first, so a card never names a missing model."""
    import lightgbm

    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(model_text.encode()).hexdigest()
    name = f"lambdamart-{card_fields['created_at']}-{digest[:8]}"
    model_file = f"ranker-{name}.lgbm.txt"
    _atomic_write(folder / model_file, model_text)
    card = ModelCard(
        format=MODEL_FORMAT,
        name=name,
        feature_version=FEATURE_VERSION,
        features=list(FEATURES),
        model_file=model_file,
        model_sha256=digest,
        lightgbm_version=lightgbm.__version__,
        **card_fields,
    )
    path = folder / f"ranker-{name}.json"
    _atomic_write(path, card.to_json())
    return path


def install(card_path: Path, target: Path) -> Path:
    """Make the card at `card_path` the installed one at `target` (same folder: the model file
    is named relative to it); replaced atomically, so a reader sees the old or the new one."""
    if card_path.resolve().parent != target.resolve().parent:
        raise ValueError(f"{card_path} must be in the folder of {target}")
    _atomic_write(target, card_path.read_text(encoding="utf-8"))
    return target


def _atomic_write(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
