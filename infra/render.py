"""Text renderings of the publish summary and the status report, shared by the CLI and `make run`."""

from __future__ import annotations

from typing import Any

import typer


def print_summary(s: dict[str, Any]) -> None:
    """A publish/prepare report: counts, then one line per rejected item, duplicate and dropped text."""
    chunks = s["chunks"]
    kept = f"{s['products']} products" + (f", {s['documents']} documents" if s["documents"] else "")
    typer.echo(
        f"{s['source']}: {kept}, {chunks['count']} chunks (tokens p50 {chunks['tokens_p50']}, "
        f"p95 {chunks['tokens_p95']}, max {chunks['tokens_max']}), "
        + (
            f"{s['unchanged']} unchanged ({s['unchanged_chunks']} chunks not sent), "
            if s.get("unchanged")
            else ""
        )
        + f"{s['deletions']} deletions, "
        f"{len(s['duplicates'])} duplicates, {len(s['rejected'])} rejected"
        + (f", {len(s['superseded'])} superseded" if s.get("superseded") else "")
        + f" ({s['seconds']:.2f}s)"
    )
    for r in s["rejected"]:
        where = r["path"] if "path" in r else f"line {r['line']}" if r["line"] else ""
        if r["source"] != s["source"]:
            where = f"{r['source']} {where}".strip()
        typer.echo(
            f"  rejected {where}" + (f" (id {r['id']})" if r["id"] else "") + f": {r['reason']}"
        )
    for d in s["duplicates"]:
        typer.echo(
            f"  duplicate {d['id']} (line {d['line']}): {d['kind']} duplicate of "
            f"{d['duplicate_of']}, similarity {d['similarity']}"
        )
    if s["retracted"]:
        typer.echo(
            f"  {s['retracted']} of the duplicates were indexed before: deleted from the index"
        )
    for d in s["dropped"]:
        typer.echo(f"  dropped {d['field']} of {d['id']}: {d['reason']}")
    for d in s.get("superseded", []):
        typer.echo(
            f"  superseded {d['id']} (line {d['line']}, a {d['was']}): line {d['by_line']} of the"
            " same input names it again and wins"
        )


def snippet(text: str, width: int = 110) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def print_status(r: dict[str, Any]) -> None:
    typer.echo(f"topic {r['topic']} @ {r['broker']}, group {r['consumer_group']}")
    typer.echo("  partition  committed  high-watermark  lag")
    for p in r["partitions"]:
        committed = "-" if p["committed"] is None else p["committed"]
        typer.echo(
            f"  {p['partition']:>9}  {committed:>9}  {p['high_watermark']:>14}  {p['lag']:>3}"
        )
    typer.echo(f"  total lag: {r['total_lag']}")
    idx = r["index"]
    typer.echo(
        f"index {idx['backend']}:{idx['name']}: {idx['rows']} chunks"
        + (f" ({idx['note']})" if "note" in idx else "")
    )
    f = r["freshness"]
    if f["chunks"]:
        typer.echo(
            f"freshness (last {f['window_s']:.0f}s, {f['chunks']} chunks): "
            f"p50 {f['p50_s']}s, p99 {f['p99_s']}s, max {f['max_s']}s"
        )
    else:
        typer.echo(f"freshness: no chunks written in the last {f['window_s']:.0f}s")
    t = r.get("throughput")
    if t is not None:
        typer.echo(
            f"throughput (last {t['window_s']:.0f}s): {t['chunks']} chunks written,"
            f" {t['chunks_per_s']}/s"
        )
    d = r["dead_letters"]
    typer.echo(f"dead letters on {d['topic']}: {d['total']}")
    for letter in d["recent"]:
        where = (
            f"{letter['source']} line {letter['line']}"
            if letter.get("line")
            else f"{letter['topic']}[{letter['partition']}]@{letter['offset']}"
        )
        typer.echo(f"  {letter['stage']}/{letter['error_type']} {where}: {letter['message'][:160]}")
