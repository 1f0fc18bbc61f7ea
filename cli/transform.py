"""Batch transform: the AWS CLI's create/describe/list/stop-transform-job and its waiter, and a
friendly `inferpipe transform` that runs a job to the end with a progress bar, the shape a
shell-scripted batch job wants (exit 0 when it completed, 1 with the reason otherwise)."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from inferpipe.cli.client import ApiClient

from .app import app, examples, wait_app
from .aws_command import AwsCommand
from .context import STATE, request, send, send_list
from .params import absolute_path, load_spec, load_value, put
from .render import console, emit, err_console
from .waiters import WaiterError

POLL = 0.5
TERMINAL = ("Completed", "Failed", "Stopped")


# request building -----------------------------------------------------------------------------------
def absolutize_paths(req: dict[str, Any], base: Path | None = None) -> None:
    source = ((req.get("TransformInput") or {}).get("DataSource") or {}).get("S3DataSource")
    if isinstance(source, dict):
        source["S3Uri"] = absolute_path(source.get("S3Uri"), base)
    output = req.get("TransformOutput")
    if isinstance(output, dict):
        output["S3OutputPath"] = absolute_path(output.get("S3OutputPath"), base)
    capture = req.get("DataCaptureConfig")
    if isinstance(capture, dict):
        capture["DestinationS3Uri"] = absolute_path(capture.get("DestinationS3Uri"), base)


def _environment(values: list[str] | None) -> dict[str, str] | None:
    if not values:
        return None
    env: dict[str, str] = {}
    for v in values:
        parsed = load_value(v, "--environment")
        if not isinstance(parsed, dict):
            raise typer.BadParameter("expected KEY=VALUE or a JSON object", param_hint="--environment")
        env.update({str(k): str(val) for k, val in parsed.items()})
    return env


# waiting --------------------------------------------------------------------------------------------
def _describe(client: ApiClient, name: str) -> dict[str, Any]:
    return client.call("DescribeTransformJob", {"TransformJobName": name})


def wait_done(client: ApiClient, name: str, timeout: float, *, bar: bool) -> dict[str, Any]:
    """Poll until Completed, Failed or Stopped; with ``bar``, a live progress bar on stderr."""
    deadline = time.monotonic() + timeout
    progress = (
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[records]} records  {task.fields[rate]}/s  files {task.fields[files]}"),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
        )
        if bar
        else None
    )
    task = progress.add_task(name, total=None, records=0, rate="0", files="0/?") if progress else None
    if progress:
        progress.start()
    try:
        while True:
            desc = _describe(client, name)
            status = desc["TransformJobStatus"]
            if progress and task is not None:
                p = desc.get("InferpipeProgress") or {}
                progress.update(
                    task,
                    description=f"{name} {status}",
                    total=p.get("BytesTotal") or None,
                    completed=p.get("BytesProcessed", 0),
                    records=f"{p.get('RecordsProcessed', 0):,}",
                    rate=f"{p.get('RecordsPerSecond', 0):,.0f}",
                    files=f"{p.get('FilesCompleted', 0) + p.get('FilesFailed', 0)}/{p.get('FilesTotal', '?')}",
                )
            if status in TERMINAL:
                return desc
            if time.monotonic() > deadline:
                raise WaiterError("TransformJobCompletedOrStopped", "Max attempts exceeded")
            time.sleep(POLL)
    finally:
        if progress:
            progress.stop()


def _show_bar() -> bool:
    """The bar goes to stderr, so stdout stays clean for --output json even when a person watches."""
    return err_console.is_terminal


def _fail_unless_completed(desc: dict[str, Any]) -> None:
    status = desc["TransformJobStatus"]
    if status != "Completed":
        reason = desc.get("FailureReason") or "stopped by StopTransformJob"
        if status == "Failed":
            raise WaiterError(
                "TransformJobCompletedOrStopped",
                'Waiter encountered a terminal failure state: For expression "TransformJobStatus" we matched'
                ' expected path: "Failed"',
                reason,
            )
        raise WaiterError("TransformJobCompleted", f"the job was {status} ({reason})")


# the AWS CLI commands -------------------------------------------------------------------------------
@app.command(
    "create-transform-job",
    cls=AwsCommand,
    epilog=examples(
        "inferpipe create-transform-job --transform-job-name wine-batch --model-name wine \\\n"
        "  --transform-input 'DataSource={S3DataSource={S3DataType=S3Prefix,S3Uri=data/}},"
        "ContentType=text/csv,SplitType=Line' \\\n"
        "  --transform-output S3OutputPath=out/,AssembleWith=Line \\\n"
        "  --transform-resources InstanceType=ml.m5.large,InstanceCount=2",
        "inferpipe create-transform-job -f job.yaml --wait",
    ),
)
def create_transform_job(
    spec: str | None = typer.Option(None, "-f", "--file", help="YAML/JSON file holding the whole request."),
    wait: bool = typer.Option(False, "--wait", help="Return when the job ends (exit 255 unless Completed)."),
    timeout: float = typer.Option(86400, "--timeout", help="Seconds to wait with --wait."),
) -> None:
    """Start a batch transform job: the model's whole container chain over every input file."""
    base = Path.cwd()
    req: dict[str, Any] = {}
    if spec:
        req, base = load_spec(spec, "transformJob")
    req.update(request("CreateTransformJob"))
    absolutize_paths(req, base)
    result = send("CreateTransformJob", req)
    client = STATE.client()
    if wait:
        _fail_unless_completed(wait_done(client, req["TransformJobName"], timeout, bar=_show_bar()))
    emit(result)


def _progress_line(p: dict[str, Any]) -> str:
    files = f"{p.get('FilesCompleted', 0)}/{p.get('FilesTotal', 0)} files"
    if p.get("FilesFailed"):
        files += f" ({p['FilesFailed']} failed)"
    read = f"{_size(p.get('BytesProcessed', 0))} of {_size(p.get('BytesTotal', 0))} processed"
    return (
        f"{files}, {p.get('RecordsProcessed', 0):,} records, {read}, {_size(p.get('BytesWritten', 0))} written,"
        f" {p.get('RecordsPerSecond', 0):,.0f} records/s over {p.get('ElapsedSeconds', 0):.1f} s"
    )


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


@app.command(
    "describe-transform-job",
    cls=AwsCommand,
    epilog=examples("inferpipe describe-transform-job --transform-job-name nightly"),
)
def describe_transform_job() -> None:
    """Show a transform job: status, reason, settings and (table output) its progress."""
    desc = send("DescribeTransformJob", request("DescribeTransformJob"))
    transform_job_name = desc["TransformJobName"]
    if STATE.as_json or STATE.query:
        emit(desc)
        return
    head = {k: v for k, v in desc.items() if k not in ("InferpipeProgress", "InferpipeExecutionParameters")}
    emit(head, title=f"Transform job {transform_job_name}")
    if desc.get("InferpipeProgress"):
        console.print(f"[bold]Progress[/bold]  {_progress_line(desc['InferpipeProgress'])}")
        for name in desc["InferpipeProgress"].get("FilesInProgress") or []:
            console.print(f"  [dim]in progress:[/dim] {name}")
    if desc.get("InferpipeExecutionParameters"):
        e = desc["InferpipeExecutionParameters"]
        console.print(
            f"[bold]In effect[/bold]  MaxConcurrentTransforms {e.get('MaxConcurrentTransforms')},"
            f" MaxPayloadInMB {e.get('MaxPayloadInMB')}, BatchStrategy {e.get('BatchStrategy')}"
        )


@app.command(
    "list-transform-jobs",
    cls=AwsCommand,
    epilog=examples("inferpipe list-transform-jobs --status-equals Failed --sort-by Name"),
)
def list_transform_jobs() -> None:
    """List transform jobs."""
    emit(
        send_list("ListTransformJobs", request("ListTransformJobs")),
        columns=["TransformJobName", "TransformJobStatus", "CreationTime", "TransformEndTime", "FailureReason"],
        rows_key="TransformJobSummaries",
    )


@app.command(
    "stop-transform-job", cls=AwsCommand, epilog=examples("inferpipe stop-transform-job --transform-job-name nightly")
)
def stop_transform_job(
    wait: bool = typer.Option(False, "--wait", help="Return when the job is Stopped and its containers are gone."),
    timeout: float = typer.Option(600, "--timeout"),
) -> None:
    """Stop a running transform job (Stopping, then Stopped; no partial output is kept)."""
    req = request("StopTransformJob")
    result = send("StopTransformJob", req)
    if wait:
        wait_done(STATE.client(), req["TransformJobName"], timeout, bar=False)
    emit(result)


@wait_app.command(
    "transform-job-completed-or-stopped",
    epilog=examples("inferpipe wait transform-job-completed-or-stopped --transform-job-name nightly"),
)
def wait_completed_or_stopped(
    transform_job_name: str = typer.Option(..., "--transform-job-name"),
    timeout: float = typer.Option(3600, "--timeout"),
) -> None:
    """Wait until the job is Completed or Stopped (exit 255 if it Failed), as the AWS CLI waiter does."""
    desc = wait_done(STATE.client(), transform_job_name, timeout, bar=False)
    if desc["TransformJobStatus"] == "Failed":
        raise WaiterError(
            "TransformJobCompletedOrStopped",
            'Waiter encountered a terminal failure state: For expression "TransformJobStatus" we matched'
            ' expected path: "Failed"',
            desc.get("FailureReason"),
        )


# the friendly command -------------------------------------------------------------------------------
def _job_name(model: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = re.sub(r"[^a-zA-Z0-9-]", "-", model)[:40].strip("-") or "transform"
    return f"{base}-{stamp}-{int(time.time() * 1000) % 1000:03d}"


@app.command(
    "transform",
    epilog=examples(
        "inferpipe transform --model-name wine --input data/ --output out/ \\\n"
        "  --content-type text/csv --split-type Line",
        "inferpipe transform --model-name wine --input batch/rows.csv --output out/ \\\n"
        "  --content-type text/csv --split-type Line --input-filter '$[1:]' \\\n"
        "  --join-source Input --output-filter '$[0,-1]'",
    ),
)
def transform(
    model_name: str = typer.Option(..., "--model-name"),
    input_: str = typer.Option(..., "--input", help="A directory (every file, recursively), a file or a prefix."),
    output: str = typer.Option(..., "--output", help="Directory for <input name>.out files (created if needed)."),
    content_type: str | None = typer.Option(None, "--content-type"),
    accept: str | None = typer.Option(None, "--accept"),
    split_type: str = typer.Option("None", "--split-type", help="None | Line | RecordIO | TFRecord"),
    assemble_with: str | None = typer.Option(None, "--assemble-with", help="None | Line (default: Line if split)."),
    compression: str | None = typer.Option(None, "--compression", help="None | Gzip"),
    manifest: bool = typer.Option(False, "--manifest", help="--input is a manifest file listing the inputs."),
    batch_strategy: str | None = typer.Option(None, "--batch-strategy", help="SingleRecord | MultiRecord"),
    max_payload_in_mb: int | None = typer.Option(None, "--max-payload-in-mb"),
    max_concurrent_transforms: int | None = typer.Option(None, "--max-concurrent-transforms"),
    instance_count: int = typer.Option(1, "--instance-count"),
    instance_type: str = typer.Option("ml.m5.large", "--instance-type"),
    input_filter: str | None = typer.Option(None, "--input-filter", help="JSONPath, e.g. '$[1:]'."),
    join_source: str | None = typer.Option(None, "--join-source", help="Input | None"),
    output_filter: str | None = typer.Option(None, "--output-filter", help="JSONPath, e.g. '$[0,-1]'."),
    env: list[str] | None = typer.Option(None, "--env", help="KEY=VALUE for every container (repeatable)."),
    invocations_timeout: int | None = typer.Option(None, "--invocations-timeout", help="Seconds per request."),
    max_retries: int | None = typer.Option(None, "--max-retries", help="Retries of a retryable failure (0-3)."),
    job_name: str | None = typer.Option(None, "--job-name", help="Default: <model>-<timestamp>."),
    timeout: float = typer.Option(86400, "--timeout", help="Give up waiting after this many seconds."),
) -> None:
    """Run a batch transform to the end: progress bar, summary, exit 1 with the reason if it fails."""
    name = job_name or _job_name(model_name)
    tin: dict[str, Any] = {
        "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile" if manifest else "S3Prefix", "S3Uri": input_}},
        "SplitType": split_type,
    }
    put(tin, "ContentType", content_type)
    put(tin, "CompressionType", compression)
    tout: dict[str, Any] = {"S3OutputPath": output}
    filtering = bool(input_filter or output_filter or (join_source and join_source != "None"))
    # DataProcessing needs an Accept; the output format usually is the input's
    put(tout, "Accept", accept or (content_type if filtering else None))
    tout["AssembleWith"] = assemble_with or ("Line" if split_type != "None" else "None")
    req: dict[str, Any] = {
        "TransformJobName": name,
        "ModelName": model_name,
        "TransformInput": tin,
        "TransformOutput": tout,
        "TransformResources": {"InstanceType": instance_type, "InstanceCount": instance_count},
    }
    dp: dict[str, Any] = {}
    put(dp, "InputFilter", input_filter)
    put(dp, "JoinSource", join_source)
    put(dp, "OutputFilter", output_filter)
    if dp:
        req["DataProcessing"] = dp
    client_config: dict[str, Any] = {}
    put(client_config, "InvocationsTimeoutInSeconds", invocations_timeout)
    put(client_config, "InvocationsMaxRetries", max_retries)
    if client_config:
        req["ModelClientConfig"] = client_config
    put(req, "BatchStrategy", batch_strategy)
    put(req, "MaxPayloadInMB", max_payload_in_mb)
    put(req, "MaxConcurrentTransforms", max_concurrent_transforms)
    put(req, "Environment", _environment(env))
    absolutize_paths(req)
    client = STATE.client()
    client.call("CreateTransformJob", req)
    try:
        desc = wait_done(client, name, timeout, bar=_show_bar())
    except KeyboardInterrupt:
        err_console.print(f"Interrupted: stopping transform job {name}...")
        client.call("StopTransformJob", {"TransformJobName": name})
        wait_done(client, name, 600, bar=False)
        raise typer.Exit(130) from None
    _summary(desc)
    if desc["TransformJobStatus"] != "Completed":
        reason = desc.get("FailureReason") or "stopped by StopTransformJob"
        sys.stderr.write(f"Transform job {name} {desc['TransformJobStatus']}: {reason}\n")
        raise typer.Exit(1)


def _summary(desc: dict[str, Any]) -> None:
    if STATE.as_json or STATE.query:
        emit(desc)
        return
    p = desc.get("InferpipeProgress") or {}
    status = desc["TransformJobStatus"]
    colour = {"Completed": "green", "Failed": "red"}.get(status, "yellow")
    out = desc.get("TransformOutput", {}).get("S3OutputPath", "")
    console.print(f"[bold {colour}]{status}[/bold {colour}] {desc['TransformJobName']}: {_progress_line(p)}")
    if status == "Completed":
        console.print(f"Output: {out}")
