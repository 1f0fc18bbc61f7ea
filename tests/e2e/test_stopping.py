"""Deleting an endpoint stops its containers together, as read from the Docker engine's own event
stream: SIGTERM to every container of every instance first, SIGKILL one grace period later to
those that ignore it, the holders removed last. Order, not time: a one-container-after-another stop
would interleave SIGKILLs between SIGTERMs."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import deploy, echo_containers, unique
from support import DaemonHandle, cleanup, make_daemon, wait_gone

from inferpipe.core.containers import labels

GRACE = "3"  # short, so the containers that ignore SIGTERM are killed soon


@pytest.fixture
def sigterm_image(echo_image: str) -> str:
    """The echo server with SIGTERM ignored (SIGTERM_ACTION=ignore) or left to the kernel's default
    action (=default); built with the other test images."""
    return "inferpipe-test/echo-sigterm:1"


@pytest.fixture
def graced_daemon() -> Iterator[DaemonHandle]:
    d = make_daemon(INFERPIPE_STOP_GRACE=GRACE)
    d.start()
    yield d
    cleanup(d)


def engine_events(home_id: str, since: float, until: float) -> list[dict[str, Any]]:
    out = subprocess.run(
        [
            "docker",
            "events",
            "--since",
            f"{since:.3f}",
            "--until",
            f"{until:.3f}",
            "--filter",
            "type=container",
            "--filter",
            f"label=inferpipe.home={home_id}",
            "--format",
            "{{json .}}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_delete_signals_every_container_at_once_and_kills_after_one_grace(
    graced_daemon: DaemonHandle, sigterm_image: str
) -> None:
    d = graced_daemon
    sm = d.client()
    name = unique("stop")
    # container-1 ignores SIGTERM; container-2 has no handler, so it stops on SIGTERM only if it is
    # not PID 1 (the runtime starts chain containers under an init)
    deploy(sm, name, echo_containers(sigterm_image, 2, {2: {"SIGTERM_ACTION": "default"}}), instances=2)
    since = time.time()
    sm.delete_endpoint(EndpointName=name)
    wait_gone(sm, name, timeout=60)
    assert d.containers() == [], "every container and holder removed"
    events = engine_events(d.home_id, since, time.time() + 1)

    def role(e: dict[str, Any]) -> str:
        attrs = e["Actor"]["Attributes"]
        return "pod" if attrs.get(labels.ROLE) == labels.ROLE_POD else attrs[labels.CONTAINER_HOSTNAME]

    kills = [(role(e), e["Actor"]["ID"], e["Actor"]["Attributes"]["signal"]) for e in events if e["Action"] == "kill"]
    chain = [k for k in kills if k[0] != "pod"]
    terms = [k for k in chain if k[2] == "15"]
    sigkills = [k for k in chain if k[2] == "9"]
    assert len({cid for _, cid, _ in terms}) == 4, f"SIGTERM to all 4 chain containers: {kills}"
    assert chain.index(sigkills[0]) > chain.index(terms[-1]), f"every SIGTERM before the first SIGKILL: {chain}"
    assert {cid for _, cid, _ in sigkills} == {cid for r, cid, _ in terms if r == "container-1"}, (
        f"only the containers that ignore SIGTERM are killed: {chain}"
    )
    died = {e["Actor"]["ID"]: e["Actor"]["Attributes"].get("exitCode") for e in events if e["Action"] == "die"}
    assert {died[cid] for r, cid, _ in terms if r == "container-2"} == {"143"}, "stopped by SIGTERM, under init"
    destroyed = [role(e) for e in events if e["Action"] == "destroy"]
    assert sorted(destroyed) == ["container-1", "container-1", "container-2", "container-2", "pod", "pod"]
    assert destroyed[-2:] == ["pod", "pod"], f"holders removed last: {destroyed}"
