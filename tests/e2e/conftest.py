from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import DaemonHandle, build_test_images, cleanup, ensure_docker, make_daemon


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session", autouse=True)
def docker_engine() -> None:
    ensure_docker()


@pytest.fixture(scope="session")
def echo_image() -> str:
    build_test_images()
    return "inferpipe-test/echo:1"


@pytest.fixture
def own_daemon() -> Iterator[DaemonHandle]:
    """A daemon of the test's own, for tests that stop, kill or restart it."""
    d = make_daemon()
    d.start()
    yield d
    cleanup(d)
