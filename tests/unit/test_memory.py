"""The daemon's fixed mmap threshold (core/memory.py) and its setting."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from inferpipe.core.config import ConfigError, Settings
from inferpipe.core.memory import fix_mmap_threshold

GLIBC = platform.libc_ver()[0] == "glibc"


def test_zero_leaves_the_c_library_alone() -> None:
    assert fix_mmap_threshold(0) is False


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_a_freed_large_buffer_goes_back_to_the_system() -> None:
    # In a fresh interpreter: after one large free, glibc's own rising threshold keeps the next
    # buffers of that size in the heap (RSS stays up once they are freed); fixed, each is unmapped.
    script = """
import sys
from inferpipe.core.memory import fix_mmap_threshold
fixed = sys.argv[1] == "1"
if fixed:
    assert fix_mmap_threshold(128 * 1024)
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
first = bytearray(4 << 20); del first  # raises glibc's dynamic threshold past 4 MiB
before = rss()
blocks, keep = [], []
for _ in range(32):  # large buffers between smaller ones that stay, as a job's memory goes
    blocks.append(bytearray(1 << 20))
    keep.append(bytearray(8192))
del blocks
print(rss() - before)
"""

    def kept(flag: str) -> int:
        run = subprocess.run([sys.executable, "-c", script, flag], capture_output=True, text=True, check=True)
        return int(run.stdout)

    default, fixed = kept("0"), kept("1")
    assert fixed < 4 << 20 <= default, (default, fixed)


def test_the_setting_is_read_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INFERPIPE_MALLOC_MMAP_THRESHOLD", raising=False)
    assert Settings.from_env().malloc_mmap_threshold == 0, "off unless asked for: it costs CPU"
    monkeypatch.setenv("INFERPIPE_MALLOC_MMAP_THRESHOLD", "131072")
    assert Settings.from_env().malloc_mmap_threshold == 128 * 1024
    monkeypatch.setenv("INFERPIPE_MALLOC_MMAP_THRESHOLD", str(64 << 20))
    with pytest.raises(ConfigError, match="INFERPIPE_MALLOC_MMAP_THRESHOLD"):
        Settings.from_env()
