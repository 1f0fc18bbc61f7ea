"""The one way the engine tries something again: a replacement instance, a container call, a scan.

Hand-written rather than tenacity: the data plane retries on its hot path (another instance when
one refuses the connection), where tenacity's machinery costs about 70 us a request against 1 us
for this loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def retry(
    attempt: Callable[[int], Awaitable[T]],
    *,
    attempts: int,
    retry_on: Callable[[Exception], bool],
    delay: float = 0.0,
    backoff: float = 1.0,
    on_retry: Callable[[int, Exception], None] | None = None,
) -> T:
    """``attempt(0)``, ``attempt(1)``, ... until one returns, at most ``attempts`` times.

    An exception ``retry_on`` refuses propagates at once; the last attempt's propagates as it is.
    ``on_retry(n, exc)`` hears of each failure that is tried again; before attempt ``n + 1`` comes a
    wait of ``delay * backoff ** n`` seconds (none at all when it is 0)."""
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    for n in range(attempts - 1):
        try:
            return await attempt(n)
        except Exception as exc:
            if not retry_on(exc):
                raise
            if on_retry is not None:
                on_retry(n, exc)
        wait = delay * backoff**n
        if wait > 0:
            await asyncio.sleep(wait)
    return await attempt(attempts - 1)
