"""One rich table for every section, and the JSON file."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .sections import SectionResult


def table(results: dict[str, SectionResult], title: str) -> Table:
    t = Table(title=title, header_style="bold", show_lines=False, expand=False)
    t.add_column("Section", style="cyan", no_wrap=True)
    t.add_column("Measure")
    t.add_column("inferpipe", justify="right")
    t.add_column("baseline", justify="right")
    t.add_column("Δ", justify="right")
    t.add_column("ratio", justify="right")
    t.add_column("target")
    t.add_column("met", justify="center")
    for name, res in results.items():
        first = True
        rows = res.rows or []
        if res.status == "error" and not rows:
            t.add_row(name, f"[red]error: {str(res.info.get('error', ''))[:100]}[/red]", *[""] * 6)
            continue
        for row in rows:
            met = "" if row.met is None else ("[green]met[/green]" if row.met else "[red]not met[/red]")
            t.add_row(name if first else "", row.measure, row.ours, row.base, row.delta, row.ratio, row.target, met)
            first = False
        if res.status == "error" and res.info.get("error"):
            t.add_row("", f"[red]error: {str(res.info['error'])[:100]}[/red]", *[""] * 6)
        t.add_section()
    return t


def targets_summary(results: dict[str, SectionResult]) -> dict[str, Any]:
    all_targets = {k: v for r in results.values() for k, v in r.targets.items()}
    counts = Counter(
        "met" if v["met"] else ("not met" if v["met"] is False else "unknown") for v in all_targets.values()
    )
    return {"targets": all_targets, "met": counts["met"], "not_met": counts["not met"], "unknown": counts["unknown"]}


def write_json(path: Path, meta: dict[str, Any], results: dict[str, SectionResult]) -> dict[str, Any]:
    doc = {
        "meta": meta,
        "sections": {name: res.as_json() for name, res in results.items()},
        **targets_summary(results),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    return doc


def print_profile(console: Console, label: str, summary: dict[str, Any]) -> None:
    t = Table(title=f"daemon profile, {label}: {summary['samples']} samples (py-spy), self time", header_style="bold")
    t.add_column("self %", justify="right")
    t.add_column("function")
    for row in summary["top_self"][:15]:
        t.add_row(f"{row['pct']:.1f}", row["frame"])
    console.print(t)
    t = Table(title="top inclusive time", header_style="bold")
    t.add_column("incl %", justify="right")
    t.add_column("function")
    for row in summary["top_inclusive"][:20]:
        t.add_row(f"{row['pct']:.1f}", row["frame"])
    console.print(t)
