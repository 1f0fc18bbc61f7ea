"""`invoke --trace`: the step trace of one request as a rich tree for people, JSON for scripts."""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

from rich.markup import escape
from rich.tree import Tree

from .client import ApiClient, ApiError
from .context import STATE
from .render import console, err_console

TRACE_HEADER = "X-Inferpipe-Trace"


def fetch(client: ApiClient, trace_id: str) -> dict[str, Any]:
    return client.call("GetInvocationTrace", {"TraceId": trace_id}, prefix="Inferpipe")


def body_fields(body: bytes) -> dict[str, str]:
    try:
        return {"Body": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"BodyBase64": base64.b64encode(body).decode()}


def _message(view: dict[str, Any], title: str, style: str) -> Tree:
    size = f"{view['Size']} bytes" + (", preview truncated" if view.get("Truncated") else "")
    node = Tree(f"[{style}]{title}[/{style}] {escape(str(view.get('ContentType') or '-'))}, {size}")
    headers = node.add("[dim]headers[/dim]")
    for key, value in view.get("Headers", {}).items():
        headers.add(f"[dim]{escape(key)}:[/dim] {escape(value)}")
    preview = view.get("Preview", "")
    label = "body (base64)" if view.get("PreviewEncoding") == "base64" else "body"
    node.add(f"[dim]{label}:[/dim] {escape(preview)}" if preview else "[dim]body: (empty)[/dim]")
    node.add(f"[dim]sha256 {view['Sha256']}[/dim]")
    return node


def tree(trace: dict[str, Any]) -> Tree:
    root = Tree(
        f"[bold]{escape(trace['EndpointName'])}[/bold] variant {escape(trace['VariantName'])}, instance"
        f" {escape(trace['InstanceId'])}, {trace['InvocationMode']} · trace {trace['TraceId']}"
        + (f" · inference {escape(trace['InferenceId'])}" if trace.get("InferenceId") else "")
    )
    for hop in trace["Containers"]:
        response = hop.get("Response")
        status = response["Status"] if response else "no answer"
        ok = response is not None and response["Status"] < 300 and not hop.get("Error")
        colour = "green" if ok else "red"
        latency = f", {hop['LatencyMs']:.1f} ms" if "LatencyMs" in hop else ""
        node = root.add(
            f"[bold]{hop['Position']}. {escape(hop['ContainerHostname'])}[/bold] [dim]{escape(hop['Image'])}[/dim]"
            f" [{colour}]{status}[/{colour}]{latency}"
        )
        node.add(_message(hop["Request"], "received", "cyan"))
        if response is not None:
            node.add(_message(response, "answered", colour))
        if hop.get("Error"):
            node.add(f"[red]stopped the chain:[/red] {escape(hop['Error'])}")
    return root


def _as_json() -> bool:
    """JSON unless a tree is asked for: the trace is no API response, so `--output table` means
    the tree (the AWS CLI's table has nothing to lay out here), on a terminal or not."""
    return STATE.as_json and STATE.output != "table"


def show(client: ApiClient, trace_id: str | None, result: dict[str, Any]) -> None:
    """Prints the response (already in `result`) with its trace."""
    trace = fetch(client, trace_id) if trace_id else None
    if _as_json():
        sys.stdout.write(json.dumps({**result, "Trace": trace}, indent=4, ensure_ascii=False) + "\n")
        return
    if "Body" in result:
        console.print(result["Body"].rstrip("\n"), markup=False, highlight=False)
    if trace is None:
        err_console.print("[yellow]The daemon kept no trace of this request.[/yellow]")
        return
    console.print(tree(trace))


def show_error(client: ApiClient, exc: ApiError) -> None:
    """A ModelError with --trace: the trace shows which container stopped the chain."""
    trace_id = (exc.fields or {}).get("InferpipeTraceId")
    if not trace_id:
        raise exc
    trace = fetch(client, str(trace_id))
    if _as_json():
        doc = {"Error": {"Code": exc.code, "Message": exc.message}, "Trace": trace}
        sys.stdout.write(json.dumps(doc, indent=4, ensure_ascii=False) + "\n")
    else:
        console.print(tree(trace))
    raise exc
