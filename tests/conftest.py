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


@pytest.fixture(scope="session")
def s3_server():  # noqa: ANN201
    """moto's standalone S3 server on 127.0.0.1 (tests/inferpipe_testing/s3server.py): `.daemon_env()`
    points a daemon at it, `.put()` / `.get()` / `.client()` act as an admin."""
    from inferpipe_testing.s3server import moto_s3

    with moto_s3() as server:
        yield server
