"""Printing results: the API's own JSON for scripts (optionally through --query, as the AWS CLI
does), rich tables for people."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from typing import Any

import jmespath
from rich.console import Console
from rich.table import Table

from .context import STATE

console = Console()
err_console = Console(stderr=True)

TIME_KEYS = ("Time", "CreationTime", "LastModifiedTime", "ResolutionTime", "StartTime", "EndTime")


def _fmt(key: str, value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key.endswith(TIME_KEYS) and value > 1e9:
        return dt.datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=None)
    return str(value)


def emit(
    data: Any, *, columns: Sequence[str] | None = None, rows_key: str | None = None, title: str | None = None
) -> None:
    if STATE.query:
        data = jmespath.search(STATE.query, data)
    if data == {}:
        return  # as the AWS CLI: an operation without output (Delete*) prints nothing
    if STATE.as_json or STATE.query:
        sys.stdout.write(json.dumps(data, indent=4, default=str, ensure_ascii=False) + "\n")
        return
    if rows_key and isinstance(data, dict) and columns:
        table = Table(title=title, header_style="bold")
        for col in columns:
            table.add_column(col)
        for row in data.get(rows_key, []):
            table.add_row(*(_fmt(c, row.get(c, "")) for c in columns))
        console.print(table)
        if data.get("NextToken"):
            console.print(f"[dim]More results: --next-token {data['NextToken']}[/dim]")
        return
    if isinstance(data, dict):
        table = Table(show_header=False, title=title, box=None)
        table.add_column(style="bold cyan")
        table.add_column()
        for key, value in data.items():
            table.add_row(key, _fmt(key, value) if not isinstance(value, (dict, list)) else json.dumps(value, indent=2))
        console.print(table)
        return
    console.print(data)
