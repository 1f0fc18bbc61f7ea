"""The s3transform section: the same transform job S3 -> S3 and file -> file, on a daemon of its own
whose S3 is a moto server (tests/inferpipe_testing/s3server.py), and the daemon's peak RSS while
the S3 job streams its input and its multipart output."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from inferpipe_testing.daemon import cleanup, make_daemon
from inferpipe_testing.s3server import moto_s3

from .harness import ECHO_IMAGE
from .stats import ratio, rnd

MIB = 1024 * 1024
S3_THROUGHPUT_RATIO = 0.9  # the goal: S3 -> S3 at least 0.9x file -> file
QUICK_BYTES = 16 * MIB
FULL_BYTES = 1024 * MIB  # the "1 GB S3 input"
JOB_TIMEOUT = 1800.0


def _write_rows(path: Path, size: int) -> int:
    line = b"row-%09d," + b"v" * 86 + b"\n"  # 100-byte CSV rows
    with path.open("wb") as fh:
        written, i = 0, 0
        block: list[bytes] = []
        while written < size:
            row = line % i
            block.append(row)
            written += len(row)
            i += 1
            if len(block) == 10_000:
                fh.write(b"".join(block))
                block.clear()
        fh.write(b"".join(block))
    return written


def _rss_kib(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak(pid: int) -> bool:
    """Reset the process's peak RSS (VmHWM) so it measures this job only; needs to own the process."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _run_job(sm: Any, raw: Any, name: str, model: str, source: str, output: str) -> dict[str, Any]:
    sm.create_transform_job(
        TransformJobName=name,
        ModelName=model,
        BatchStrategy="MultiRecord",
        MaxPayloadInMB=6,
        MaxConcurrentTransforms=4,
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": source}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={"S3OutputPath": output, "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        desc = raw(name)
        if desc["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
            if desc["TransformJobStatus"] != "Completed":
                raise RuntimeError(f"transform job {name}: {desc['TransformJobStatus']}: {desc.get('FailureReason')}")
            return desc
        if time.monotonic() > deadline:
            raise RuntimeError(f"transform job {name} still {desc['TransformJobStatus']} after {JOB_TIMEOUT} s")
        time.sleep(0.25)


def server_copy(s3: Any, source: str, target: str) -> tuple[float, float]:
    """The S3 server alone, through the daemon's own S3 code (core/s3) and keys: stream the input
    object through GET into a multipart upload and complete it. Returns (whole copy seconds,
    CompleteMultipartUpload seconds): what any S3 -> S3 job must at least wait for on this server.
    moto's CompleteMultipartUpload joins the parts in Python, so it grows with the object."""
    from inferpipe.core.s3.objects import S3Objects
    from inferpipe.core.s3.uri import parse_s3_uri

    objects = S3Objects(s3.client(keys=s3.daemon))
    t0 = time.monotonic()
    _, chunks = objects.iter_object(parse_s3_uri(source))
    writer = objects.writer(parse_s3_uri(target))
    for chunk in chunks:
        writer.write(chunk)
    t1 = time.monotonic()
    writer.complete()
    t2 = time.monotonic()
    return t2 - t0, t2 - t1


def measure(quick: bool, log: Any) -> dict[str, Any]:
    """Both jobs on one daemon and one input; throughput is input bytes over the job's own elapsed time
    (InferpipeProgress.ElapsedSeconds: from its first file to its last, fleet start-up excluded), and
    the daemon's peak RSS (VmHWM, reset before each job) during each."""
    import json

    size = QUICK_BYTES if quick else FULL_BYTES
    work = Path(tempfile.mkdtemp(prefix="inferpipe-bench-s3-"))
    with moto_s3(in_memory=True) as s3:
        daemon = make_daemon(prefix="inferpipe-bench-s3-", **s3.daemon_env(), INFERPIPE_ALLOWED_ROOTS=str(work))
        try:
            daemon.start(wait=30)
            sm = daemon.client("sagemaker", read_timeout=120)

            def raw(name: str) -> dict[str, Any]:
                body = json.dumps({"TransformJobName": name}).encode()
                return dict(daemon.raw_call("SageMaker.DescribeTransformJob", body).json())

            (work / "in").mkdir()
            data = work / "in" / "rows.csv"
            log(f"  writing {size // MIB} MiB of CSV rows")
            actual = _write_rows(data, size)
            s3.bucket("bench-in")
            s3.bucket("bench-out")
            s3.client().upload_file(str(data), "bench-in", "data/rows.csv")
            (work / "small").mkdir()
            _write_rows(work / "small" / "rows.csv", MIB)
            s3.client().upload_file(str(work / "small" / "rows.csv"), "bench-in", "small/rows.csv")
            model = "bench-s3-echo3"
            sm.create_model(
                ModelName=model,
                Containers=[{"Image": ECHO_IMAGE, "Environment": {"ECHO_RAW": "1"}} for _ in range(3)],
            )
            pid = daemon.pid or 0
            # The first S3 job also builds the daemon's S3 client (botocore loads the S3 model), a fixed
            # cost: a small S3 job runs first, so the peaks below compare the two data paths only.
            log("  S3 -> S3 warm-up, 1 MiB")
            _run_job(sm, raw, "bench-s3-small", model, "s3://bench-in/small/", "s3://bench-out/small/")
            reset = _reset_peak(pid)
            log("  file -> file")
            file_desc = _run_job(sm, raw, "bench-file", model, f"file://{work}/in/", f"file://{work}/out/")
            file_peak = _rss_kib(pid, "VmHWM")
            reset = _reset_peak(pid) and reset
            log(f"  S3 -> S3, {size // MIB} MiB")
            s3_desc = _run_job(sm, raw, "bench-s3", model, "s3://bench-in/data/", "s3://bench-out/results/")
            peak = _rss_kib(pid, "VmHWM")
            out_size = s3.client().head_object(Bucket="bench-out", Key="results/rows.csv.out")["ContentLength"]
            if out_size != (work / "out" / "rows.csv.out").stat().st_size:
                raise RuntimeError(f"S3 output is {out_size} bytes, the file output a different size")
            log("  the S3 server alone: GET -> multipart upload of the same input")
            copy_s, complete_s = server_copy(s3, "s3://bench-in/data/rows.csv", "s3://bench-out/copy/rows.csv")
        finally:
            cleanup(daemon)
            shutil.rmtree(work, ignore_errors=True)
    file_s = file_desc["InferpipeProgress"]["ElapsedSeconds"]
    s3_s = s3_desc["InferpipeProgress"]["ElapsedSeconds"]
    file_mbs = actual / MIB / file_s if file_s else None
    s3_mbs = actual / MIB / s3_s if s3_s else None
    return {
        "input_mib": rnd(actual / MIB, 1),
        "file_to_file_mib_s": rnd(file_mbs, 2),
        "s3_to_s3_mib_s": rnd(s3_mbs, 2),
        "ratio": rnd(ratio(s3_mbs, file_mbs), 3),
        "daemon_peak_rss_s3_job_mib": rnd(peak / 1024, 1) if peak else None,
        "daemon_peak_rss_file_job_mib": rnd(file_peak / 1024, 1) if file_peak else None,
        "peak_is_job_only": 1 if reset else 0,
        "server_copy_s": rnd(copy_s, 3),
        "server_complete_s": rnd(complete_s, 3),
        "file_job_s": rnd(file_s, 3),
        "s3_job_s": rnd(s3_s, 3),
        # the ratio an S3 -> S3 job could reach if everything but the final CompleteMultipartUpload
        # overlapped the file -> file job's own time
        "ratio_bound_by_server": rnd(ratio(file_s, file_s + complete_s), 3),
    }
