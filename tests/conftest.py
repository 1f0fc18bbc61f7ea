from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import DaemonHandle, cleanup, make_daemon  # noqa: E402


@pytest.fixture(scope="session")
def daemon() -> Iterator[DaemonHandle]:
    """One daemon shared by tests that do not interfere with each other (unique resource names)."""
    d = make_daemon()
    d.start()
    yield d
    cleanup(d)


@pytest.fixture(scope="session")
def sm(daemon: DaemonHandle):  # noqa: ANN201
    return daemon.client("sagemaker")


@pytest.fixture(scope="session")
def rt(daemon: DaemonHandle):  # noqa: ANN201
    return daemon.client("sagemaker-runtime")
