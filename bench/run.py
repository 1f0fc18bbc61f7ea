"""inferpipe benchmarks: `python -m bench` (or `python bench/run.py`) from the repository root.

Builds the echo test image, starts a private daemon in a temporary INFERPIPE_HOME on a free port,
deploys a 3-container echo pipeline, runs the sections, prints one table and writes
bench/results/latest.json. Whatever happens (a failure, Ctrl-C, SIGTERM) the endpoints, the
hand-run containers and the daemon are removed.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):  # run as a file: python bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console

from bench.harness import BENCH, DAEMON_START_WAIT, REPO, Bench, DaemonHandle, bench_daemon, build_images, cleanup_all
from bench.report import print_profile, table, write_json
from bench.sections import RUNNERS, SECTIONS, Ctx, SectionResult

DEFAULT_OUTPUT = BENCH / "results" / "latest.json"


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of the inferpipe daemon and CLI against baselines measured in the same run.",
    )
    p.add_argument("--quick", action="store_true", help="a few seconds per section (the smoke test uses it)")
    p.add_argument("--duration", type=float, help="seconds per measured side of each comparison (default 30)")
    p.add_argument("--requests", type=int, help="N requests per measured side instead of a duration")
    p.add_argument(
        "--only",
        action="append",
        choices=SECTIONS,
        metavar="SECTION",
        help=f"run only this section (repeatable): {', '.join(SECTIONS)}",
    )
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the JSON results")
    p.add_argument("--update-concurrency", type=int, default=4, help="load during the updates (default 4)")
    p.add_argument("--payload-concurrency", type=int, default=4, help="concurrency of the payload sweep (default 4)")
    p.add_argument("--profile", action="store_true", help="py-spy the daemon during the c=16 daemon phase")
    p.add_argument(
        "--daemon-wrapper",
        type=Path,
        help="a Python file that starts the daemon (to try a change, e.g. uvloop, without editing core/)",
    )
    p.add_argument("--keep-home", action="store_true", help="keep the daemon's temporary home (its log) afterwards")
    args = p.parse_args(argv)
    if args.duration is None:
        args.duration = 1.5 if args.quick else 30.0
    return args


def _git_commit() -> str | None:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout
    return proc.stdout.strip() + ("+dirty" if dirty.strip() else "")


def _docker_version() -> str | None:
    proc = subprocess.run(["docker", "version", "-f", "{{.Server.Version}}"], capture_output=True, text=True)
    return proc.stdout.strip() or None


def _sigterm(_sig: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    console = Console()
    if not console.is_terminal:  # a log file or a pipe: do not squeeze the table into 80 columns
        console = Console(width=160)
    err = Console(stderr=True)
    signal.signal(signal.SIGTERM, _sigterm)
    sections = [s for s in SECTIONS if not args.only or s in args.only]
    started = time.time()
    meta: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "duration_s": args.duration,
        "requests": args.requests,
        "sections": sections,
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git": _git_commit(),
        "docker": _docker_version(),
        "load_generator": "aiohttp client, asyncio, own spawned process, keep-alive connector, closed loop",
    }
    results: dict[str, SectionResult] = {}
    daemon: DaemonHandle | None = None
    bench: Bench | None = None
    profiler: Any = None
    interrupted = False
    try:
        err.print("[bold]building test images[/bold]")
        build_images()
        daemon = bench_daemon(args.daemon_wrapper)
        meta["daemon_wrapper"] = str(args.daemon_wrapper) if args.daemon_wrapper else None
        daemon.start(wait=DAEMON_START_WAIT)
        err.print(f"[bold]daemon[/bold] pid {daemon.pid} on {daemon.url}, home {daemon.home}")
        bench = Bench(daemon, quick=args.quick, duration=args.duration, requests=args.requests)
        t0 = time.monotonic()
        bench.setup()
        err.print(f"endpoint {bench.endpoint} InService after {time.monotonic() - t0:.1f} s")
        if args.profile and daemon.pid:
            from bench.profile import Profiler

            profiler = Profiler(daemon.pid, args.output.parent)
        ctx = Ctx(
            bench=bench,
            quick=args.quick,
            duration=args.duration,
            requests=args.requests,
            update_concurrency=args.update_concurrency,
            payload_concurrency=args.payload_concurrency,
            profile=profiler,
            log=lambda m: err.print(f"[dim]{m}[/dim]"),
        )
        meta["daemon_pid"] = daemon.pid
        meta["run_id"] = bench.run_id  # hand-run containers carry the label inferpipe-bench=<run_id>
        meta["daemon_home_id"] = daemon.home_id  # the daemon's containers carry inferpipe.home=<id>
        for name in sections:
            err.rule(name)
            t_section = time.monotonic()
            try:
                results[name] = RUNNERS[name](ctx)
            except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others
                err.print(f"[red]{name} failed:[/red] {exc}")
                err.print(traceback.format_exc())
                results[name] = SectionResult(name, status="error", info={"error": f"{type(exc).__name__}: {exc}"})
            results[name].info["section_seconds"] = round(time.monotonic() - t_section, 1)
    except KeyboardInterrupt:
        interrupted = True
        err.print("[yellow]interrupted: cleaning up[/yellow]")
    except Exception as exc:  # noqa: BLE001
        err.print(f"[red]bench failed:[/red] {exc}")
        err.print(traceback.format_exc())
        meta["error"] = f"{type(exc).__name__}: {exc}"
        if daemon is not None:
            meta["daemon_log_tail"] = daemon.log_text()[-2000:]
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the cleanup finish
        try:
            if profiler is not None:
                meta["profile"] = profiler.finish()
            cleanup_all(bench, daemon, keep_home=args.keep_home)
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    meta["interrupted"] = interrupted
    meta["seconds"] = round(time.time() - started, 1)
    meta["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    write_json(args.output, meta, results)
    mode = (" (quick)" if args.quick else "") + (" (INTERRUPTED)" if interrupted else "")
    title = (
        f"inferpipe bench{mode}: {meta['cpus']} CPUs, "
        f"load {meta['loadavg_before'][0]}→{meta['loadavg_after'][0]}, {meta['seconds']} s"
    )
    console.print(table(results, title))
    for label, summary in (meta.get("profile") or {}).items():
        print_profile(console, label, summary)
    console.print(f"results: {args.output}")
    if interrupted:
        return 130
    if meta.get("error") or any(r.status == "error" for r in results.values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
