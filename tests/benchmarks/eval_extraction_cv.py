"""How well the product-page extractor generalises: 5-fold cross-validation over the dev pages.

The dev pages (../shared/data/product-pages, keys 0-7; $PEB names another copy) are split into
five folds by a hash of the page key. The extractor (`extract_product`, what `freshindex
extract` runs) reads every page with every rule of `ingest.pages.rules` on, and once more per
rule with that rule off; price, sku and availability are scored as ../shared/tools/eval_extraction.py
scores them (its `to_pred`, `match` and `f1`, imported from it).

Reported:
  - dev: F1 on all the dev pages, every rule on (what ships);
  - per rule, per held-out fold: F1 with and without the rule;
  - cv: the mean over the folds of the held-out fold's F1, where the rule set is chosen on the
    four training folds only (a rule stays unless switching it off raises the training folds'
    summed F1: rules for pages the dev set does not have, which change nothing here, stay), and
    `cv_all_rules`, the same mean with every rule on (nothing chosen).

Parsing (the DOM and extruct's structured data) is the same whatever the rules, so each page is
parsed once and shared by every rule set. The last line is one JSON object.

    make eval-extraction          # or: .venv/bin/python -m tests.benchmarks.eval_extraction_cv
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest.mock import patch

from ingest.pages import extract, rules, structured
from ingest.pages.dom import Page

SHARED = Path(__file__).resolve().parents[3] / "shared"
PEB = Path(os.environ.get("PEB", SHARED / "data/product-pages"))
EVAL_TOOL = SHARED / "tools/eval_extraction.py"
ATTRS = ("price", "sku", "availability")
K = 5

Predictions = dict[str, dict[str, Any]]


def fold_of(key: str) -> int:
    """The page's fold: a hash of its key, so the split never depends on the page order."""
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % K


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eval_extraction", EVAL_TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def parsed_once() -> Iterator[None]:
    """Share each page's DOM and structured data between the extractions of one page."""
    pages: dict[tuple[str | None, int, int], Page] = {}
    syntaxes: dict[tuple[str | None, int, int], tuple[dict[str, list[Any]], list[str]]] = {}
    page_class, read_syntaxes = Page, structured.extract_syntaxes

    class SharedPage(Page):
        @classmethod
        def of(cls, text: str, url: str | None) -> Page:
            key = (url, len(text), hash(text))
            if key not in pages:
                pages[key] = page_class.of(text, url)
            return pages[key]

    def shared_syntaxes(text: str, url: str | None) -> tuple[dict[str, list[Any]], list[str]]:
        key = (url, len(text), hash(text))
        if key not in syntaxes:
            syntaxes[key] = read_syntaxes(text, url)
        data, warnings = syntaxes[key]
        return data, list(warnings)

    with (
        patch.object(extract, "Page", SharedPage),
        patch.object(structured, "extract_syntaxes", shared_syntaxes),
    ):
        yield


class Runner:
    """Predictions per page and rule set (the rules switched off), each computed once."""

    def __init__(self, tool: ModuleType, truth: dict[str, Any], keys: list[str]) -> None:
        self.tool, self.truth = tool, truth
        self.html = {
            k: gzip.decompress((PEB / f"dataset/html/{k}.html.gz").read_bytes()) for k in keys
        }
        self.cache: dict[tuple[frozenset[str], str], dict[str, Any]] = {}

    def predictions(self, off: frozenset[str], keys: list[str]) -> Predictions:
        with rules.switched_off(off):
            for key in keys:
                if (off, key) not in self.cache:
                    result = extract.extract_product(self.html[key], self.truth[key]["url"])
                    fields = result.fields if result.record is not None else None
                    self.cache[(off, key)] = self.tool.to_pred(fields)
        return {k: self.cache[(off, k)] for k in keys}

    def scores(self, preds: Predictions, keys: list[str]) -> dict[str, float]:
        return {
            attr: self.tool.f1(
                [
                    self.tool.match(attr, set(self.truth[k].get(attr, [])), preds[k][attr])
                    for k in keys
                ]
            )
            for attr in ATTRS
        }


def mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {a: round(sum(r[a] for r in rows) / len(rows), 4) for a in ATTRS}


def cross_validate(runner: Runner, keys: list[str]) -> dict[str, Any]:
    names = sorted(rules.RULES)
    base = runner.predictions(frozenset(), keys)
    without = {n: runner.predictions(frozenset({n}), keys) for n in names}
    folds = [[k for k in keys if fold_of(k) == f] for f in range(K)]
    per_rule: dict[str, dict[str, Any]] = {n: {"on": [], "off": [], "kept": 0} for n in names}
    held_chosen, held_all = [], []
    for fold in folds:
        train = [k for k in keys if k not in fold]
        train_on = sum(runner.scores(base, train).values())
        dropped = set()
        for name in names:
            per_rule[name]["on"].append(runner.scores(base, fold))
            per_rule[name]["off"].append(runner.scores(without[name], fold))
            if sum(runner.scores(without[name], train).values()) > train_on:
                dropped.add(name)
            else:
                per_rule[name]["kept"] += 1
        held_all.append(runner.scores(base, fold))
        held_chosen.append(runner.scores(runner.predictions(frozenset(dropped), fold), fold))
    return {
        "dev": {a: round(v, 4) for a, v in runner.scores(base, keys).items()},
        "cv": mean(held_chosen),
        "cv_all_rules": mean(held_all),
        "fold_sizes": [len(f) for f in folds],
        "rules": {
            n: {
                "kept_on_training_folds": r["kept"],
                "held_out_gain": {
                    a: round(
                        sum(on[a] - off[a] for on, off in zip(r["on"], r["off"], strict=True)) / K,
                        4,
                    )
                    for a in ATTRS
                },
                "folds_on": r["on"],
                "folds_off": r["off"],
            }
            for n, r in per_rule.items()
        },
    }


def report(result: dict[str, Any], pages: int, seconds: float) -> None:
    print(f"dev pages: {pages}, folds: {K} (sizes {result['fold_sizes']}), {seconds:.0f} s")
    print(f"{'':34s} {'price':>7s} {'sku':>7s} {'avail':>7s}")
    for label, key in (
        ("dev (all rules on)", "dev"),
        ("cv, rules chosen on training folds", "cv"),
        ("cv, all rules on", "cv_all_rules"),
    ):
        row = result[key]
        print(f"{label:34s} " + " ".join(f"{row[a]:7.3f}" for a in ATTRS))
    print("\nper rule: held-out F1 with/without it per fold, mean gain, kept on n/5 training sets")
    for name, r in result["rules"].items():
        changed = [
            a
            for a in ATTRS
            if any(on[a] != off[a] for on, off in zip(r["folds_on"], r["folds_off"], strict=True))
        ]
        kept = f"kept {r['kept_on_training_folds']}/{K}"
        if not changed:
            print(f"  {name:32s} no effect on the dev pages; {kept}")
            continue
        gains = " ".join(f"{a} {r['held_out_gain'][a]:+.3f}" for a in changed)
        print(f"  {name:32s} mean gain {gains}; {kept}")
        for a in changed:
            cells = " ".join(
                f"{on[a]:.3f}/{off[a]:.3f}"
                for on, off in zip(r["folds_on"], r["folds_off"], strict=True)
            )
            print(f"      {a:13s} {cells}")


def main() -> int:
    if not (PEB / "dataset/ground-truth.json").exists() or not EVAL_TOOL.exists():
        print(
            f"skipped: dev pages or eval tool not found ({PEB}, {EVAL_TOOL}); they exist beside "
            "the checkout only on project machines"
        )
        print(json.dumps({"skipped": True}))
        return 0
    tool = load_tool()
    truth: dict[str, Any] = json.loads((PEB / "dataset/ground-truth.json").read_text())
    keys = sorted(k for k in truth if k[0] in "01234567")
    started = time.monotonic()
    with parsed_once():
        runner = Runner(tool, truth, keys)
        result = cross_validate(runner, keys)
    report(result, len(keys), time.monotonic() - started)
    summary = {
        "pages": len(keys),
        "folds": K,
        "dev": result["dev"],
        "cv": result["cv"],
        "cv_all_rules": result["cv_all_rules"],
        "rules": {
            n: {"held_out_gain": r["held_out_gain"], "kept": r["kept_on_training_folds"]}
            for n, r in result["rules"].items()
        },
    }
    print(json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
