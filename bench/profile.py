"""Optional: sample the daemon with py-spy (from PyPI, into bench/.venv-tools) during the c=16 phase."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from .harness import BENCH


def pyspy() -> Path:
    venv = BENCH / ".venv-tools"
    exe = venv / "bin" / "py-spy"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", "py-spy"],
            check=True,
            capture_output=True,
            timeout=600,
        )
    if not exe.exists():
        shutil.rmtree(venv, ignore_errors=True)
        raise RuntimeError("py-spy did not install")
    return exe


class Profiler:
    """Starts `py-spy record` against the daemon; one recording per call, raw (collapsed) stacks."""

    def __init__(self, pid: int, out_dir: Path) -> None:
        self.pid = pid
        self.out_dir = out_dir
        self.exe = pyspy()
        self.procs: list[tuple[subprocess.Popen[bytes], Path, Path]] = []
        self.labels: list[str] = []

    def __call__(self, seconds: float, label: str) -> None:
        self.labels.append(label)
        raw = self.out_dir / f"daemon-profile-{label}.txt"
        svg = self.out_dir / f"daemon-profile-{label}.svg"
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for path, fmt in ((raw, "raw"), (svg, "flamegraph")):
            proc = subprocess.Popen(
                [str(self.exe), "record", "--pid", str(self.pid), "--duration", str(max(1, int(seconds))),
                 "--rate", "250", "--nonblocking", "--format", fmt, "--output", str(path)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            self.procs.append((proc, raw, svg))

    def finish(self) -> dict[str, Any] | None:
        for proc, _, _ in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        out: dict[str, Any] = {}
        for label in self.labels:
            raw = self.out_dir / f"daemon-profile-{label}.txt"
            if raw.exists():
                out[label] = summarize(raw.read_text().splitlines())
                out[label]["files"] = [str(raw), str(raw.with_suffix(".svg"))]
        return out or None


FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::\d+)?\)$")


def _short(frame: str) -> str:
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    file = m["file"]
    for marker in ("site-packages/", "/lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{m['func']} ({file.rsplit('/', 2)[-2] + '/' if '/' in file else ''}{file.rsplit('/', 1)[-1]})"


def summarize(lines: list[str]) -> dict[str, Any]:
    self_time: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";") if f.strip()]
        frames = [f for f in frames if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        total += n
        self_time[frames[-1]] += n
        for f in set(frames):
            incl[f] += n

    def top(c: Counter[str], k: int) -> list[dict[str, Any]]:
        return [{"frame": f, "samples": n, "pct": round(100 * n / total, 2)} for f, n in c.most_common(k)]

    return {"samples": total, "top_self": top(self_time, 25), "top_inclusive": top(incl, 40)}
