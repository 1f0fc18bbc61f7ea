"""Printing results: the API's own data in the AWS CLI's formats for scripts (formats.py, through
--query as the AWS CLI applies it), rich tables for people."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import jmespath
from rich.console import Console
from rich.table import Table

from . import formats
from .context import STATE
from .pagination import Pages

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
    data: Any,
    *,
    columns: Sequence[str] | None = None,
    rows_key: str | None = None,
    title: str | None = None,
    operation: str | None = None,
) -> None:
    """Print one command's result: ``data`` is the response (or pagination.Pages); ``operation``
    titles an AWS CLI table (default: the last operation the client called)."""
    if STATE.as_json or STATE.query:
        query = jmespath.compile(STATE.query).search if STATE.query else None
        name = operation or (STATE.client().last_operation if STATE.has_client else None) or ""
        formats.write(STATE.output or "json", name, data, query)
        return
    if isinstance(data, Pages):
        data = data.full_result()
    if data == {}:
        return  # as the AWS CLI: an operation without output (Delete*) prints nothing
    if rows_key and isinstance(data, dict) and columns:
        table = Table(title=title, header_style="bold")
        for col in columns:
            table.add_column(col)
        for row in data.get(rows_key, []):
            table.add_row(*(_fmt(c, row.get(c, "")) for c in columns))
        console.print(table)
        if data.get("NextToken"):
            console.print(f"[dim]More results: --starting-token {data['NextToken']}[/dim]")
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
