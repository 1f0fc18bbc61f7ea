"""The modeldata section: the daemon's S3 model-data download for a CreateEndpoint against `aws s3 cp`
of the same object, from the same moto server with the same credentials, in the same run."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from inferpipe_testing.daemon import cleanup, make_daemon
from inferpipe_testing.s3server import moto_s3

from .harness import ECHO_IMAGE
from .stats import ratio, rnd

MIB = 1024 * 1024
QUICK_BYTES = 16 * MIB
FULL_BYTES = 256 * MIB
QUICK_REPEATS = 1
FULL_REPEATS = 3
WAIT = 600.0  # bound on one download; only reached when something is wrong
POLL = 0.005  # seconds between looks at the cache: the resolution of the daemon's figure
BUCKET = "bench-model-data"


def _aws() -> str:
    """The AWS CLI of this environment (the `test` extra installs it next to the interpreter)."""
    here = Path(sys.executable).parent / "aws"
    found = str(here) if here.exists() else shutil.which("aws")
    if not found:
        raise RuntimeError("the AWS CLI is not installed: pip install -e '.[test]'")
    return found


def _write_object(path: Path, size: int) -> None:
    """Incompressible bytes, so neither side gains from compression on the wire."""
    with path.open("wb") as fh:
        left = size
        while left:
            chunk = os.urandom(min(left, 8 * MIB))
            fh.write(chunk)
            left -= len(chunk)


def _daemon_download(sm: Any, cache: Path, key: str, size: int, tag: str) -> float:
    """Seconds from CreateEndpoint until the model data is published in the daemon's cache (an entry
    appears by one rename, whole). The image check before the download is counted: a user waits for it
    too, and with the image present it is one `docker image inspect`."""
    model = f"bench-md-{tag}"
    sm.create_model(
        ModelName=model,
        Containers=[
            {
                "Image": ECHO_IMAGE,
                "ModelDataSource": {
                    "S3DataSource": {
                        "S3Uri": f"s3://{BUCKET}/{key}",
                        "S3DataType": "S3Object",
                        "CompressionType": "None",
                    }
                },
            }
        ],
    )
    sm.create_endpoint_config(
        EndpointConfigName=model,
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1}],
    )
    before = set(cache.iterdir()) if cache.exists() else set()
    start = time.perf_counter()
    sm.create_endpoint(EndpointName=model, EndpointConfigName=model)
    deadline = time.monotonic() + WAIT
    while not any(not p.name.startswith(".") for p in (set(cache.iterdir()) if cache.exists() else set()) - before):
        if time.monotonic() > deadline:
            raise RuntimeError(f"model data of {model} not in the cache after {WAIT:.0f} s")
        time.sleep(POLL)
    took = time.perf_counter() - start
    (entry,) = [p for p in set(cache.iterdir()) - before if not p.name.startswith(".")]
    got = sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
    if got != size:  # the figure counts only a download that really landed, whole
        raise RuntimeError(f"cache entry {entry.name} holds {got} bytes, the object {size}")
    sm.get_waiter("endpoint_in_service").wait(EndpointName=model, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    sm.delete_endpoint(EndpointName=model)
    return took


def _cli_download(env: dict[str, str], url: str, key: str, dest: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [_aws(), "s3", "cp", f"s3://{BUCKET}/{key}", str(dest), "--endpoint-url", url, "--only-show-errors"],
        env=env,
        check=True,
    )
    took = time.perf_counter() - start
    dest.unlink()
    return took


def measure(quick: bool, log: Any) -> dict[str, Any]:
    """Each repeat downloads a fresh key with the same bytes (the daemon's cache would otherwise serve
    the second request without a download); both sides first fetch a 1 MiB object, so neither figure
    carries the one-off cost of loading botocore's S3 model into a cold process."""
    size = QUICK_BYTES if quick else FULL_BYTES
    repeats = QUICK_REPEATS if quick else FULL_REPEATS
    work = Path(tempfile.mkdtemp(prefix="inferpipe-bench-md-"))
    daemon_s: list[float] = []
    cli_s: list[float] = []
    cli_small = 0.0
    with moto_s3() as s3:
        daemon = make_daemon(prefix="inferpipe-bench-md-", **s3.daemon_env())
        try:
            daemon.start(wait=30)
            sm = daemon.client("sagemaker", read_timeout=120)
            cache = daemon.home / "model-cache"
            env = {**os.environ, **s3.aws_env(s3.daemon)}
            s3.bucket(BUCKET)
            log(f"  writing {size // MIB} MiB of random bytes")
            _write_object(work / "model.bin", size)
            _write_object(work / "small.bin", MIB)
            client = s3.client()
            client.upload_file(str(work / "small.bin"), BUCKET, "warm/model.bin")
            for i in range(repeats):
                client.upload_file(str(work / "model.bin"), BUCKET, f"run-{i}/model.bin")
            log("  warm-up: 1 MiB by the daemon and by aws s3 cp")
            _daemon_download(sm, cache, "warm/model.bin", MIB, "warm")
            _cli_download(env, s3.url, "warm/model.bin", work / "out.bin")
            # The CLI's own fixed cost (a Python process importing botocore) is most of a small copy:
            # measured on 1 MiB, so the report can also compare the transfers alone.
            cli_small = statistics.median(
                _cli_download(env, s3.url, "warm/model.bin", work / "out.bin") for _ in range(3)
            )
            for i in range(repeats):
                log(f"  {size // MIB} MiB, repeat {i + 1}/{repeats}")
                daemon_s.append(_daemon_download(sm, cache, f"run-{i}/model.bin", size, f"run-{i}"))
                cli_s.append(_cli_download(env, s3.url, f"run-{i}/model.bin", work / "out.bin"))
        finally:
            cleanup(daemon)
            shutil.rmtree(work, ignore_errors=True)
    ours, base = statistics.median(daemon_s), statistics.median(cli_s)
    base_net = base - cli_small
    return {
        "object_mib": rnd(size / MIB, 1),
        "repeats": repeats,
        "daemon_download_s": rnd(ours, 3),
        "aws_s3_cp_s": rnd(base, 3),
        "ratio": rnd(ratio(ours, base), 3),
        "aws_s3_cp_1mib_s": rnd(cli_small, 3),
        "aws_s3_cp_net_s": rnd(base_net, 3),
        "ratio_net": rnd(ratio(ours, base_net) if base_net > 0 else None, 3),
        "daemon_mib_s": rnd(size / MIB / ours, 1) if ours else None,
        "aws_s3_cp_mib_s": rnd(size / MIB / base, 1) if base else None,
    }
