"""The Docker runtime's stop sequence, against a recording stand-in for the Engine API: SIGTERM to
every chain container of every instance first, one grace period, then removal (SIGKILL for those
that ignored SIGTERM), holders once that wait is over (at once when nothing is in flight). The e2e
test test_stopping.py checks the same on real Docker."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from inferpipe.core.containers.runtime import ContainerHandle, DockerRuntime, InstanceHandle


class RecordingAPI:
    """The few Engine API calls stop_instances makes; containers in `stubborn` ignore SIGTERM."""

    def __init__(self, running: set[str], stubborn: set[str]) -> None:
        self.running = set(running)
        self.stubborn = stubborn
        self.calls: list[tuple[str, ...]] = []
        self._lock = threading.Lock()

    def kill(self, cid: str, signal: str) -> None:
        with self._lock:
            self.calls.append(("kill", cid, signal))
            if cid not in self.stubborn:
                self.running.discard(cid)

    def containers(self, filters: dict[str, Any], quiet: bool = False) -> list[dict[str, str]]:
        with self._lock:
            self.calls.append(("list",))
            return [{"Id": cid} for cid in filters["id"] if cid in self.running]

    def remove_container(self, cid: str, force: bool = False) -> None:
        assert force
        with self._lock:
            self.calls.append(("remove", cid))
            self.running.discard(cid)


def instance(index: int) -> InstanceHandle:
    return InstanceHandle(
        "endpoint",
        "e",
        "AllTraffic",
        1,
        index,
        pod_id=f"pod{index}",
        containers=[ContainerHandle(k, f"c{k}", f"i{index}c{k}", f"n{index}{k}", 8079 + k, 0) for k in (1, 2)],
    )


def runtime(api: RecordingAPI) -> DockerRuntime:
    rt = DockerRuntime.__new__(DockerRuntime)  # no engine connection: the client is the recorder
    rt.home_id = "test"
    rt.client = SimpleNamespace(api=api)  # type: ignore[assignment]
    return rt


MEMBERS = {"i1c1", "i1c2", "i2c1", "i2c2"}


def test_sigterm_to_all_then_one_grace_then_removal_with_holders_after_the_wait() -> None:
    api = RecordingAPI(MEMBERS | {"pod1", "pod2"}, stubborn={"i1c1", "i2c1"})
    runtime(api).stop_instances([instance(1), instance(2)], timeout=0.05)
    kinds = [c[0] for c in api.calls]
    terms = [c for c in api.calls if c[0] == "kill"]
    assert {c[1] for c in terms} == MEMBERS and {c[2] for c in terms} == {"SIGTERM"}
    assert kinds[: len(MEMBERS)] == ["kill"] * len(MEMBERS), "every container is signalled before any wait"
    removes = [c[1] for c in api.calls if c[0] == "remove"]
    assert sorted(removes) == sorted(MEMBERS | {"pod1", "pod2"})
    last_wait = max(i for i, k in enumerate(kinds) if k in ("kill", "list"))
    assert kinds.index("remove") > last_wait, "nothing is removed before the grace period is over"
    assert api.running == set()


def test_idle_holders_go_while_the_chain_containers_are_still_given_their_grace() -> None:
    api = RecordingAPI(MEMBERS | {"pod1", "pod2"}, stubborn=MEMBERS)
    runtime(api).stop_instances([instance(1), instance(2)], timeout=0.5, idle=True)
    kinds = [c[0] for c in api.calls]
    removes = [c[1] for c in api.calls if c[0] == "remove"]
    # the members ignore SIGTERM, so they are removed only after the whole half second of grace,
    # looked at several times; the holders do not wait for that
    last_look = max(i for i, k in enumerate(kinds) if k == "list")
    assert all(api.calls.index(("remove", pod)) < last_look for pod in ("pod1", "pod2"))
    assert set(removes[2:]) == MEMBERS
    assert {c[1] for c in api.calls if c[0] == "kill"} == MEMBERS, "the chain containers still get SIGTERM"
    assert api.running == set()


def test_no_wait_once_every_container_has_exited() -> None:
    api = RecordingAPI(MEMBERS | {"pod1", "pod2"}, stubborn=set())
    runtime(api).stop_instances([instance(1), instance(2)], timeout=30)
    assert [c for c in api.calls if c[0] == "list"] == [("list",)], "one look, and they are all gone"
    assert api.running == set()


def test_zero_timeout_removes_without_signalling() -> None:
    api = RecordingAPI(MEMBERS | {"pod1", "pod2"}, stubborn=MEMBERS)
    runtime(api).stop_instances([instance(1), instance(2)], timeout=0)
    assert all(c[0] == "remove" for c in api.calls)
    assert sorted(c[1] for c in api.calls) == sorted(MEMBERS | {"pod1", "pod2"})
    assert api.running == set()
