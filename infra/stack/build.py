"""`python -m infra.stack.build`: fetch the Kafka jars and build the Weaviate server, each cached
by version under `$FRESHINDEX_CACHE` (`make production-deps`; a no-op once built)."""

from __future__ import annotations

import sys
import time

from infra.stack import kafka, weaviate
from infra.stack.errors import StackError


def main() -> int:
    for what, build in (
        (f"Apache Kafka {kafka.KAFKA_VERSION} jars", kafka.fetch_jars),
        (f"Weaviate {weaviate.WEAVIATE_VERSION} server", weaviate.build_binary),
    ):
        started = time.monotonic()
        try:
            path = build()
        except StackError as e:
            print(f"error: {what}: {e}", file=sys.stderr)
            return 1
        print(f"{what}: {path} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
