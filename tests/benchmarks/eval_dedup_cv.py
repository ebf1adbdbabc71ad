"""Dev and cross-validated precision/recall of deduplication (README "Deduplication").

    make eval-dedup        # .venv/bin/python -m tests.benchmarks.eval_dedup_cv

Labelled pairs: `tests/unit/dedup/labelled_pairs.jsonl` over `records.jsonl` (the first 82
pairs) and `hard_pairs.jsonl` over `hard_records.jsonl` (written by `make_hard_pairs.py`). A
pair is predicted a duplicate when, after the deduplicator has seen the pair's `before`
records, `a`, then its `between` records, `check(b)` names `a`: a copy linked to a sibling of
its original counts as a miss.

Tunables: the threshold (`THRESHOLDS`) and each rule of `DedupRules` on or off.
- dev: every pair, with the shipped defaults (threshold 0.7, every rule on).
- cv: 5 folds over the pairs not set aside; pairs sharing a record or a family (`group`) stay in
  one fold, folds dealt by hash. On the four training folds the threshold with the best F1 is
  chosen, then each rule is switched off unless that lowers the training F1 (a rule is kept
  only if it raises the score); the fifth fold is scored with that choice. Pooled over the
  five held-out folds.
- set aside: the pairs `make_hard_pairs.py` marked `holdout`, scored with the settings chosen
  the same way on all the other pairs; they took no part in writing or tuning the rules.
- per case (dev predictions), and per rule an ablation: that rule off, every other on, the
  threshold chosen on the training folds, against the same with every rule on.
The last line is one JSON object with every figure.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ingest.prepare.dedup import DEFAULT_THRESHOLD, Deduplicator, DedupRules
from schemas.models import ProductRecord

DEDUP = Path(__file__).parents[1] / "unit" / "dedup"
SOURCES = (("labelled_pairs.jsonl", "records.jsonl"), ("hard_pairs.jsonl", "hard_records.jsonl"))
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
FOLDS = 5
RULES = tuple(f.name for f in fields(DedupRules))
SHIPPED_OFF = frozenset(rule for rule in RULES if not getattr(DedupRules(), rule))
"""The rules `DedupRules` switches off by default."""

Config = tuple[float, frozenset[str]]
"""(threshold, rules switched off)."""


@dataclass(frozen=True, kw_only=True)
class Pair:
    a: str
    b: str
    duplicate: bool
    case: str
    group: str
    split: str
    source: str
    round: int = 0
    before: tuple[str, ...] = ()
    between: tuple[str, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        return (*self.before, self.a, *self.between, self.b)


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, label: bool, predicted: bool, what: str = "") -> None:
        if label and predicted:
            self.tp += 1
        elif predicted:
            self.fp += 1
            self.misses.append(f"fp {what}")
        elif label:
            self.fn += 1
            self.misses.append(f"fn {what}")
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def figures(self) -> dict[str, Any]:
        return {
            "pairs": self.tp + self.fp + self.fn + self.tn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }

    def line(self) -> str:
        return (
            f"precision {self.precision:.3f}  recall {self.recall:.3f}  f1 {self.f1:.3f}  "
            f"(tp {self.tp}, fp {self.fp}, fn {self.fn}, tn {self.tn})"
        )


def load() -> tuple[dict[str, ProductRecord], list[Pair]]:
    records: dict[str, ProductRecord] = {}
    pairs: list[Pair] = []
    for pair_file, record_file in SOURCES:
        for line in (DEDUP / record_file).read_text(encoding="utf-8").splitlines():
            record = ProductRecord.model_validate_json(line)
            records[record.id] = record
        for line in (DEDUP / pair_file).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            pairs.append(
                Pair(
                    a=row["a"],
                    b=row["b"],
                    duplicate=bool(row["duplicate"]),
                    case=row["case"],
                    group=row.get("group", ""),
                    split=row.get("split", "dev"),
                    source=pair_file,
                    round=int(row.get("round", 0)),
                    before=tuple(row.get("before", ())),
                    between=tuple(row.get("between", ())),
                )
            )
    return records, pairs


class _Memoised(Deduplicator):
    """The real deduplicator, its signatures (MinHash, features: functions of the record and
    `num_perm` only, never of the threshold or the rules) computed once per record id."""

    signatures: dict[str, Any] = {}  # noqa: RUF012 - shared by every instance on purpose

    def _signature(self, record: ProductRecord) -> Any:
        if record.id not in self.signatures:
            self.signatures[record.id] = super()._signature(record)
        return self.signatures[record.id]


class Predictions:
    """Predictions per configuration, each computed once, through the real `Deduplicator`."""

    def __init__(self, records: dict[str, ProductRecord], pairs: Sequence[Pair]) -> None:
        self.records = records
        self.pairs = pairs
        self._cache: dict[Config, list[bool]] = {}

    def __call__(self, config: Config) -> list[bool]:
        if config not in self._cache:
            self._cache[config] = self._run(config)
        return self._cache[config]

    def _run(self, config: Config) -> list[bool]:
        threshold, off = config
        rules = DedupRules(**{rule: rule not in off for rule in RULES})
        out = []
        # one deduplicator per configuration; each pair forgets its records afterwards, so
        # every pair starts from an empty state (building the LSH index costs ~15 ms)
        with _Memoised(":memory:", threshold=threshold, rules=rules) as dedup:
            for pair in self.pairs:
                for product_id in (*pair.before, pair.a, *pair.between):
                    dedup.check(self.records[product_id])
                out.append(dedup.check(self.records[pair.b]).duplicate_of == pair.a)
                for product_id in pair.ids:
                    dedup.forget(product_id)
        return out


def score(predictions: list[bool], pairs: Sequence[Pair], chosen: Iterable[int]) -> Counts:
    counts = Counts()
    for i in chosen:
        counts.add(pairs[i].duplicate, predictions[i], f"{pairs[i].case}: {pairs[i].b}")
    return counts


def best_threshold(
    predict: Predictions,
    train: list[int],
    off: frozenset[str],
    thresholds: Sequence[float] = THRESHOLDS,
) -> float:
    """The threshold with the best training F1 (ties: the one nearest the default)."""
    return max(
        thresholds,
        key=lambda t: (
            score(predict((t, off)), predict.pairs, train).f1,
            -abs(t - DEFAULT_THRESHOLD),
        ),
    )


def choose(
    predict: Predictions, train: list[int], thresholds: Sequence[float] = THRESHOLDS
) -> Config:
    """The threshold with the best training F1, then the rules one by one (backward
    elimination): a rule is switched off unless that lowers the training F1, so a rule is
    kept only if it raises the score given the rules kept before it."""
    threshold = best_threshold(predict, train, frozenset(), thresholds)
    off: frozenset[str] = frozenset()
    best = score(predict((threshold, off)), predict.pairs, train).f1
    for rule in RULES:
        f1 = score(predict((threshold, off | {rule})), predict.pairs, train).f1
        if f1 >= best:
            off, best = off | {rule}, f1
    return threshold, off


def groups(pairs: Sequence[Pair]) -> list[list[int]]:
    """Pairs that share a record or a family, as lists of pair indices."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for pair in pairs:
        keys = [f"record:{i}" for i in pair.ids] + ([f"group:{pair.group}"] if pair.group else [])
        for key in keys[1:]:
            parent[find(key)] = find(keys[0])
    members: dict[str, list[int]] = defaultdict(list)
    for n, pair in enumerate(pairs):
        members[find(f"record:{pair.a}")].append(n)
    return list(members.values())


def folds(pairs: Sequence[Pair], indices: list[int]) -> list[list[int]]:
    """`FOLDS` folds of `indices`: whole groups, dealt in hash order to the smallest fold."""
    chosen = set(indices)
    found = [g for g in groups(pairs) if g[0] in chosen]
    key = [hashlib.sha256(min(pairs[i].b for i in g).encode()).hexdigest() for g in found]
    out: list[list[int]] = [[] for _ in range(FOLDS)]
    for _, group in sorted(zip(key, found, strict=True)):
        min(out, key=len).extend(group)
    return out


def cross_validate(
    predict: Predictions,
    indices: list[int],
    fixed_off: frozenset[str] | None = None,
    thresholds: Sequence[float] = THRESHOLDS,
) -> tuple[Counts, list[Config]]:
    """Pooled held-out counts over the folds of `indices`: settings chosen on the training
    folds by `choose`, or (`fixed_off`) those rules off and only the threshold chosen."""
    pooled, chosen = Counts(), []
    for held in folds(predict.pairs, indices):
        train = sorted(set(indices) - set(held))
        config = (
            choose(predict, train, thresholds)
            if fixed_off is None
            else (best_threshold(predict, train, fixed_off, thresholds), fixed_off)
        )
        chosen.append(config)
        for i in held:
            pair = predict.pairs[i]
            pooled.add(pair.duplicate, predict(config)[i], f"{pair.case}: {pair.b}")
    return pooled, chosen


def coarse(case: str) -> str:
    """`variant: size token (ring) (short text)` -> `variant: size token`; the forms of a
    variant (copy perturbed, from a second source, title reworded) as rows of their own."""
    case = re.sub(r" \((short text|short|catalog)\)$", "", case)
    form = re.fullmatch(r"variant: .*?, (.*)", case)
    if form:
        return f"variant (any kind), {form.group(1)}"
    return re.sub(r"^(variant: size token|other size|other pack|other colour).*", r"\1", case)


def say(text: str = "") -> None:
    print(text, flush=True)


def main() -> None:
    started = time.monotonic()
    records, pairs = load()
    predict = Predictions(records, pairs)
    everything = list(range(len(pairs)))
    tuning = [i for i, p in enumerate(pairs) if p.split != "holdout"]
    set_aside = [i for i, p in enumerate(pairs) if p.split == "holdout"]
    default: Config = (DEFAULT_THRESHOLD, SHIPPED_OFF)
    dev = score(predict(default), pairs, everything)
    parts = {
        f"{source} round {n}": [
            i for i in everything if (pairs[i].source, pairs[i].round) == (source, n)
        ]
        for source, _ in SOURCES
        for n in sorted({p.round for p in pairs if p.source == source})
    }
    per_part = {name: score(predict(default), pairs, idx) for name, idx in parts.items()}
    say(f"{len(pairs)} labelled pairs ({sum(p.duplicate for p in pairs)} duplicates)")
    shipped = f"threshold {DEFAULT_THRESHOLD}, rules off: {', '.join(sorted(SHIPPED_OFF)) or '-'}"
    say(f"dev, all pairs, shipped defaults ({shipped}):")
    say(f"  {'all':34s} {dev.line()}")
    for name, counts in per_part.items():
        say(f"  {name:34s} {counts.line()}")
    cv, configs = cross_validate(predict, tuning)
    say(f"cv, {FOLDS} folds of the {len(tuning)} pairs not set aside: {cv.line()}")
    for threshold, off in configs:
        say(f"  fold: threshold {threshold}, rules off: {', '.join(sorted(off)) or '-'}")
    at_default, _ = cross_validate(predict, tuning, thresholds=(DEFAULT_THRESHOLD,))
    say(f"cv, the same with the threshold kept at {DEFAULT_THRESHOLD}:        {at_default.line()}")
    final = choose(predict, tuning)
    aside = score(predict(final), pairs, set_aside)
    say(f"set aside, {len(set_aside)} pairs, settings chosen on the rest: {aside.line()}")
    say(f"  chosen: threshold {final[0]}, rules off: {', '.join(sorted(final[1])) or '-'}")
    say(f"  ... and with the shipped defaults: {score(predict(default), pairs, set_aside).line()}")

    say("\nper case (all pairs, shipped defaults): right/all")
    by_case: dict[str, Counts] = defaultdict(Counts)
    for i, pair in enumerate(pairs):
        by_case[coarse(pair.case)].add(pair.duplicate, predict(default)[i], pair.b)
    for case, counts in sorted(by_case.items()):
        right, total = counts.tp + counts.tn, counts.tp + counts.tn + counts.fp + counts.fn
        wrong = f"  {', '.join(counts.misses[:4])}" if right < total else ""
        say(f"  {case[:64]:64s} {right:4d}/{total:<4d}{wrong}")

    all_on, _ = cross_validate(predict, tuning, frozenset())
    all_on_dev = score(predict((DEFAULT_THRESHOLD, frozenset())), pairs, everything)
    say("\nablation: one rule off, the others on, threshold chosen on the training folds")
    say(f"  {'(none off)':16s} dev f1 {all_on_dev.f1:.3f}          cv {all_on.line()}")
    ablation: dict[str, Any] = {}
    for rule in RULES:
        off = frozenset({rule})
        rule_dev = score(predict((DEFAULT_THRESHOLD, off)), pairs, everything)
        rule_cv, _ = cross_validate(predict, tuning, off)
        ablation[rule] = {
            "dev": rule_dev.figures(),
            "cv": rule_cv.figures(),
            "cv_f1_change": round(rule_cv.f1 - all_on.f1, 4),
        }
        say(
            f"  {rule:16s} dev f1 {rule_dev.f1:.3f} ({rule_dev.f1 - all_on_dev.f1:+.3f})  "
            f"cv {rule_cv.line()} ({rule_cv.f1 - all_on.f1:+.3f})"
        )
    say(f"\n{time.monotonic() - started:.0f} s")
    report = {
        "dev": dev.figures(),
        "dev_parts": {k: v.figures() for k, v in per_part.items()},
        "cv": cv.figures(),
        "cv_choices": [{"threshold": t, "off": sorted(o)} for t, o in configs],
        "cv_all_rules_on": all_on.figures(),
        "cv_threshold_kept": at_default.figures(),
        "set_aside": aside.figures(),
        "set_aside_choice": {"threshold": final[0], "off": sorted(final[1])},
        "per_case": {k: v.figures() for k, v in sorted(by_case.items())},
        "ablation": ablation,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
