"""Sending one body through a container chain, container 1 to N, over kept-alive connections.
Design notes: docs/serving.md."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from inferpipe.core.containers.runtime import ContainerHandle

MAX_INTER_CONTAINER_BYTES = 5 * 1024 * 1024

# A request body: bytes, or a memoryview for a batch mini-batch read straight into a buffer of its own.
Body = bytes | memoryview


class ContainerCallError(Exception):
    """A container answered non-2xx, timed out, or broke the connection."""

    def __init__(
        self,
        hostname: str,
        status: int,
        message: str,
        *,
        timeout: bool = False,
        unreadable: bool = False,
        payload_too_large: tuple[str, int] | None = None,
        connection: bool = False,
    ) -> None:
        super().__init__(f"{hostname}: {status} {message}")
        self.hostname = hostname
        self.status = status
        self.message = message
        self.timeout = timeout
        self.unreadable = unreadable
        self.payload_too_large = payload_too_large  # (next hostname, size)
        self.connection = connection  # the container could not be reached: its instance may be down


class FirstContainerUnreachable(Exception):
    """Container 1 refused the connection: nothing was processed, another instance may retry."""


class HopObserver(Protocol):
    """Watches each hop of one request (serving/hops.py): adds the trace context to the headers a
    container gets, and sees what was sent and answered. A failed hop reaches the caller as a
    ContainerCallError naming its container."""

    def sending(self, cont: ContainerHandle, headers: dict[str, str], body: Body) -> None: ...

    def answered(
        self, cont: ContainerHandle, status: int, sent: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> None: ...


@dataclass
class ChainResult:
    body: bytes
    content_type: str | None
    custom_attributes: str | None
    timings: list[tuple[str, float]]  # (hostname, microseconds)


def new_session() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30, ttl_dns_cache=None)
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),  # containers never set cookies; skip the jar's work per hop
        skip_auto_headers=("User-Agent", "Accept-Encoding"),
    )


@functools.lru_cache(maxsize=8)
def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=seconds)


async def run_chain(
    session: aiohttp.ClientSession,
    containers: Sequence[ContainerHandle],
    body: Body,
    *,
    content_type: str | None,
    accept: str | None,
    custom_attributes: str | None = None,
    inference_id: str | None = None,
    timeout: float = 60.0,
    observer: HopObserver | None = None,
) -> ChainResult:
    timings: list[tuple[str, float]] = []
    attrs = custom_attributes
    for position, cont in enumerate(containers):
        headers: dict[str, str] = {}
        if content_type:
            headers["Content-Type"] = content_type
        if accept:
            headers["Accept"] = accept
        if custom_attributes:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = custom_attributes
        if inference_id:
            headers["X-Amzn-SageMaker-Inference-Id"] = inference_id
        if observer is not None:
            observer.sending(cont, headers, body)
        t0 = time.perf_counter()
        try:
            async with session.post(
                cont.invocations_url, data=body, headers=headers, timeout=_timeout(timeout)
            ) as resp:
                try:
                    payload = await resp.read()
                except (aiohttp.ClientError, OSError) as exc:
                    raise ContainerCallError(cont.hostname, 500, str(exc), unreadable=True) from exc
                if observer is not None:  # the headers aiohttp really sent, Host and Content-Length included
                    observer.answered(cont, resp.status, resp.request_info.headers, resp.headers, payload)
                if resp.status >= 300:
                    raise ContainerCallError(cont.hostname, resp.status, payload.decode(errors="replace").strip())
                body = payload
                content_type = resp.headers.get("Content-Type")
                attrs = resp.headers.get("X-Amzn-SageMaker-Custom-Attributes")
        except aiohttp.ClientConnectorError as exc:
            if position == 0:
                raise FirstContainerUnreachable(str(exc)) from exc
            raise ContainerCallError(
                cont.hostname, 500, f"Could not connect to container {cont.hostname}: {exc}", connection=True
            ) from exc
        except TimeoutError as exc:
            raise ContainerCallError(
                cont.hostname,
                0,
                f"Your invocation timed out while waiting for a response from container {cont.hostname}. Review the"
                " latency metrics for each container in Amazon CloudWatch, resolve the issue, and try again.",
                timeout=True,
            ) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            raise ContainerCallError(
                cont.hostname, 500, f"Container {cont.hostname} closed the connection: {exc}", connection=True
            ) from exc
        timings.append((cont.hostname, (time.perf_counter() - t0) * 1e6))
        if position < len(containers) - 1 and len(body) > MAX_INTER_CONTAINER_BYTES:
            raise ContainerCallError(
                cont.hostname, 200, "", payload_too_large=(containers[position + 1].hostname, len(body))
            )
    return ChainResult(bytes(body) if isinstance(body, memoryview) else body, content_type, attrs, timings)
