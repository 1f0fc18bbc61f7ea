from __future__ import annotations

import pytest
from support import build_test_images, ensure_docker


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
