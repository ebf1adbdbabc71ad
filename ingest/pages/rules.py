"""Named extraction rules that can be switched off, to measure what each one is worth.

Every general mechanism of the page heuristics that was added for pages the dev set barely has
(the multilingual stock lexicon, variant-aware availability, the price-label readings...) is
registered here by name, and its code asks `on(name)` before it applies. Everything is on in
production; `tests/benchmarks/eval_extraction_cv.py` switches rules off (`switched_off`) to score
each held-out fold with and without each rule, and keeps a rule only where the training folds say
it helps.

The switch is a context variable, so it holds for one extraction and the code it calls, and two
threads measuring different rules do not see each other's switches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

RULES: dict[str, str] = {}
"""Every switchable rule: name -> what it does (one line)."""

_OFF: ContextVar[frozenset[str]] = ContextVar("freshindex_rules_off", default=frozenset())


def rule(name: str, description: str) -> str:
    """Register a rule (at import time) and return its name, to be tested with `on`."""
    RULES[name] = description
    return name


def on(name: str) -> bool:
    """True unless the rule is switched off in the current context."""
    return name not in _OFF.get()


@contextmanager
def switched_off(names: Iterable[str]) -> Iterator[None]:
    """Run the block with these rules off (an unknown name is an error: a typo would measure
    nothing)."""
    wanted = frozenset(names)
    unknown = wanted - RULES.keys()
    if unknown:
        raise KeyError(f"unknown extraction rules: {', '.join(sorted(unknown))}")
    token = _OFF.set(_OFF.get() | wanted)
    try:
        yield
    finally:
        _OFF.reset(token)


__all__ = ["RULES", "on", "rule", "switched_off"]
