from __future__ import annotations

import asyncio
from unittest.mock import patch

import pytest

from inferpipe.core.retry import retry


class Flaky(Exception):
    pass


def run(failures: int, attempts: int, **kw: object) -> tuple[list[int], list[float], list[int], object]:
    calls: list[int] = []
    waits: list[float] = []
    retried: list[int] = []

    async def attempt(n: int) -> str:
        calls.append(n)
        if n < failures:
            raise Flaky(f"attempt {n}")
        return "done"

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    async def main() -> object:
        with patch("inferpipe.core.retry.asyncio.sleep", fake_sleep):
            try:
                return await retry(
                    attempt,
                    attempts=attempts,
                    retry_on=lambda exc: isinstance(exc, Flaky),
                    on_retry=lambda n, _exc: retried.append(n),
                    **kw,  # type: ignore[arg-type]
                )
            except Flaky as exc:
                return exc

    result = asyncio.run(main())
    return calls, waits, retried, result


def test_it_tries_again_until_an_attempt_succeeds_with_backoff() -> None:
    calls, waits, retried, result = run(2, 5, delay=0.25, backoff=2)
    assert (calls, waits, retried, result) == ([0, 1, 2], [0.25, 0.5], [0, 1], "done")


def test_the_last_attempts_error_propagates_and_no_wait_follows_it() -> None:
    calls, waits, retried, result = run(9, 3, delay=1.0)
    assert calls == [0, 1, 2] and waits == [1.0, 1.0] and retried == [0, 1]
    assert isinstance(result, Flaky) and str(result) == "attempt 2"


def test_no_delay_means_no_sleep_at_all() -> None:
    _, waits, _, result = run(3, 4)
    assert waits == [] and result == "done"


def test_an_error_it_is_not_told_to_retry_propagates_at_once() -> None:
    calls: list[int] = []

    async def attempt(n: int) -> None:
        calls.append(n)
        raise KeyError("not transient")

    with pytest.raises(KeyError):
        asyncio.run(retry(attempt, attempts=3, retry_on=lambda exc: isinstance(exc, Flaky)))
    assert calls == [0]
