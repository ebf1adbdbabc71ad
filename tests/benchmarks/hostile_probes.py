"""`make probes`: every hostile input of the regression corpora, run through the real CLI as a
catalog team would, each in its own process under a time limit and a memory cap.

Not a test: it prints one line per probe and, last, one JSON object with the counts the
hostile-input issue is judged by. Each probe is classified:

- `crash`: a Python traceback on stderr, or an exit status other than 0, 1 or 2;
- `hang`: still running after PROBE_TIMEOUT_S (default 120 s);
- `silent_loss`: the report does not account for every input row or document
  (records_in != kept + deletions + duplicates + rejected + superseded), or fewer rows than
  the input has;
- `wrong_reason`: a rejection expected by the corpus is missing, or its reason lacks the words
  the corpus expects;
- `secret`: a planted credential shows in stdout, stderr, the report or the chunks;
- `ok` otherwise.

The corpora are the unit tier's (`tests/unit/test_hostile_feeds.py`,
`test_hostile_documents.py`, `test_hostile_pages.py`), so a new case there is a new probe here.
Feeds and documents go through `freshindex prepare --json` (the same chain as `publish`,
written instead of sent), pages through `freshindex extract --url`.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from ingest.documents.limits import env_var
from tests.unit import test_hostile_documents as documents
from tests.unit import test_hostile_feeds as feeds
from tests.unit import test_hostile_pages as pages

PLANTED = "PLANTED-probe-secret-9Qx"
TIMEOUT_S = float(os.environ.get("PROBE_TIMEOUT_S", "120"))
MEMORY_BYTES = 3 << 30


@dataclass(frozen=True)
class Outcome:
    name: str
    verdict: str
    detail: str
    seconds: float


def say(text: str) -> None:
    print(text, flush=True)


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))


def run_cli(args: list[str], env: dict[str, str]) -> tuple[int | None, str, str, float]:
    """(exit status or None on a hang, stdout, stderr, seconds) of `freshindex ARGS`."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "infra.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
            preexec_fn=_cap_memory,
        )
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else e.stdout or ""
        return None, out, "", time.perf_counter() - started
    return done.returncode, done.stdout, done.stderr, time.perf_counter() - started


def failure(code: int | None, out: str, err: str, extra: str = "") -> str | None:
    """`hang`, `crash` or `secret` when the run shows one, else None."""
    if code is None:
        return "hang"
    if "Traceback (most recent call last)" in err or code not in (0, 1, 2):
        return "crash"
    if PLANTED in out + err + extra:
        return "secret"
    return None


def accounted(report: dict[str, Any]) -> int:
    return int(
        report["kept"]
        + report["deletions"]
        + len(report["duplicates"])
        + len(report["rejected"])
        + len(report["superseded"])
    )


def prepare(
    work: Path, inputs: list[str], env: dict[str, str]
) -> tuple[str | None, dict[str, Any]]:
    """Run `prepare` on `inputs`; (a failure verdict or None, the report)."""
    out, report_path = work / "chunks.jsonl", work / "report.json"
    code, stdout, stderr, _ = run_cli(
        ["prepare", *inputs, "--json", "--out", str(out), "--report", str(report_path)], env
    )
    written = "".join(p.read_text(errors="replace") for p in (out, report_path) if p.is_file())
    verdict = failure(code, stdout, stderr, written)
    if verdict or not report_path.is_file():
        return verdict or "crash", {"stderr": stderr[-300:]}
    report: dict[str, Any] = json.loads(report_path.read_text())
    return None, report


def feed_probe(name: str, env: dict[str, str]) -> tuple[str, str]:
    work = Path(tempfile.mkdtemp(prefix="probe-feed-"))
    path, expected = feeds.write_case(work, name)
    verdict, report = prepare(work, [str(path)], env)
    if verdict:
        return verdict, str(report.get("stderr", ""))
    reasons = [r["reason"] for r in report["rejected"]]
    if expected and expected[0].startswith("error:"):
        wanted = expected[0].removeprefix("error:")
        failed = [f["reason"] for f in report["failed_inputs"]]
        return ("ok", wanted) if any(wanted in f for f in failed) else ("wrong_reason", str(failed))
    if report["records_in"] != accounted(report) or report["records_in"] < len(expected):
        return "silent_loss", f"records_in {report['records_in']}, accounted {accounted(report)}"
    for want in (e.removeprefix("rejected:") for e in expected if e.startswith("rejected")):
        if not any(want in r for r in reasons):
            return "wrong_reason", f"no rejection says {want!r}: {reasons}"
    return "ok", f"{report['kept']} kept, {len(reasons)} rejected"


def document_probe(name: str, env: dict[str, str]) -> tuple[str, str]:
    make, limits, kind, expected = documents.CASES[name]
    work = Path(tempfile.mkdtemp(prefix="probe-doc-"))
    path = make(work)
    named = path.with_name(f"P-1__{path.name}")
    path.rename(named)
    env = env | {env_var(k): str(v) for k, v in limits.items()}
    verdict, report = prepare(work, [str(named)], env)
    if verdict:
        return verdict, str(report.get("stderr", ""))
    rejected = [r["reason"] for r in report["rejected"]]
    if report["records_in"] != accounted(report) or report["records_in"] != 1:
        return "silent_loss", f"records_in {report['records_in']}, accounted {accounted(report)}"
    if kind == documents.OK:
        return ("ok", "parsed") if report["kept"] == 1 else ("wrong_reason", str(rejected))
    if any(expected in r for r in rejected):
        return "ok", expected[:60]
    return "wrong_reason", f"wanted {expected!r}, got {rejected}"


def page_probe(index: int, env: dict[str, str]) -> tuple[str, str]:
    _, make, url, want = pages.CORPUS[index]
    work = Path(tempfile.mkdtemp(prefix="probe-page-"))
    path = work / "page.html"
    path.write_bytes(make())
    code, out, err, _ = run_cli(["extract", str(path), "--url", url], env)
    verdict = failure(code, out, err)
    if verdict:
        return verdict, err[-200:]
    try:
        result = json.loads(out)
    except ValueError:
        return "crash", f"not one JSON object: {out[:120]!r}"
    if path.read_bytes()[:2] == b"\x1f\x8b":  # a saved page may be gzipped: `extract` reads it
        return ("ok", "gzip read") if code == 0 else ("wrong_reason", str(result)[:120])
    if want.reason is not None:
        error = str(result.get("error", ""))
        ok = code == 1 and want.reason in error
        return ("ok", want.reason[:60]) if ok else ("wrong_reason", f"{code}: {error[:120]}")
    if code != 0 or "id" not in result:
        return "wrong_reason", f"{code}: {str(result)[:120]}"
    if want.product_id and not str(result["id"]).startswith(want.product_id.rstrip("~")):
        return "wrong_reason", f"id {result['id']!r}, wanted {want.product_id!r}"
    return "ok", str(result["id"])[:60]


def main() -> int:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "FRESHINDEX_HOME": tempfile.mkdtemp(prefix="probe-home-"),
        "FRESHINDEX_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "FRESHINDEX_KAFKA_SASL_PASSWORD": PLANTED,
        "FRESHINDEX_SERVE_API_KEY": PLANTED,
        "FRESHINDEX_WEAVIATE_API_KEY": PLANTED,
    }
    probes: list[tuple[str, Callable[[], tuple[str, str]]]] = []
    probes += [(f"feed: {n}", partial(feed_probe, n, env)) for n in sorted(feeds.CASES)]
    probes += [(f"document: {n}", partial(document_probe, n, env)) for n in documents.CASES]
    probes += [(f"page: {c[0]}", partial(page_probe, i, env)) for i, c in enumerate(pages.CORPUS)]
    only = os.environ.get("PROBES")
    if only:
        probes = [p for p in probes if only in p[0]]
    say(f"{len(probes)} hostile-input probes, {TIMEOUT_S:g} s and {MEMORY_BYTES >> 30} GiB each")
    outcomes = []
    for name, probe in probes:
        started = time.perf_counter()
        verdict, detail = probe()
        outcome = Outcome(name, verdict, detail, time.perf_counter() - started)
        outcomes.append(outcome)
        say(f"{verdict:<12} {outcome.seconds:6.1f}s  {name}  ({detail[:100]})")
    counts = Counter(o.verdict for o in outcomes)
    result = {
        "probes": len(outcomes),
        "ok": counts["ok"],
        "crashes": counts["crash"],
        "hangs": counts["hang"],
        "silent_losses": counts["silent_loss"],
        "wrong_reasons": counts["wrong_reason"],
        "secrets_printed": counts["secret"],
        "slowest_s": round(max((o.seconds for o in outcomes), default=0.0), 1),
    }
    print(json.dumps(result), flush=True)
    return 0 if counts["ok"] == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
