"""Where slow-to-build service artifacts are cached, by version: the Kafka jars and the Weaviate
binary. `$FRESHINDEX_CACHE` (default `~/.cache/freshindex`) survives fresh clones, so CI and
`make test` build each only when its pinned version changes."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "freshindex"
    return Path(os.environ.get("FRESHINDEX_CACHE", str(default))).expanduser().resolve()
