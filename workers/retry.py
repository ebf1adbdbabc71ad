"""The one retry policy of the worker side: capped exponential backoff with jitter.

Whoever waits before trying again asks a `Backoff` how long: the worker loop holding a batch
while a dependency is away (`workers.app`), the worker sending a dead letter the broker did not
take, and the Triton client retrying one request (`workers.embedding.triton`). Which failures are
retried is decided elsewhere, by exception type (`workers.errors.Transient`); this module only
says how long to wait.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

_MAX_EXPONENT = 64  # 2**64 * any sensible base is far above any cap; avoids float overflow


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """`base_s * 2**attempt`, at most `cap_s`, of which the last `jitter` fraction is random.

    With jitter 0.5 a delay lies in [d/2, d] for the capped exponential d ("equal jitter"): it
    never exceeds the cap, and workers that failed together do not retry together.
    """

    base_s: float = 1.0
    """Delay before the first retry (attempt 0), without jitter."""
    cap_s: float = 30.0
    """Longest delay."""
    jitter: float = 0.5
    """Fraction of each delay that is random, in [0, 1]; 0: deterministic."""

    def __post_init__(self) -> None:
        if not (0 < self.base_s <= self.cap_s):
            raise ValueError(f"need 0 < base_s <= cap_s, got {self.base_s} and {self.cap_s}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be in [0, 1], got {self.jitter}")

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        capped = min(self.cap_s, self.base_s * 2.0 ** min(max(attempt, 0), _MAX_EXPONENT))
        return capped * (1.0 - self.jitter * rand())


WORKER_HOLD = Backoff(base_s=1.0, cap_s=30.0)
"""A batch held because a dependency (Triton, the index, the broker) is away."""

TRITON_REQUEST = Backoff(base_s=0.5, cap_s=8.0)
"""One Triton request retried in place before the batch is held (`embed_max_retries` times)."""

INDEX_WRITE = Backoff(base_s=0.5, cap_s=2.0)
"""Objects a Weaviate batch refused for a transient reason, re-sent in place a few times before
the batch is held."""
