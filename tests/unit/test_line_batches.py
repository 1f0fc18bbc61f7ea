"""iter_line_batches (the bulk MultiRecord + Line path) against the record-by-record oracle."""

from __future__ import annotations

import io
import random

import pytest
from trickle import Trickle

from inferpipe.core.batch.records import (
    RecordTooLargeError,
    iter_batches,
    iter_line_batches,
    iter_records,
)


def oracle(data: bytes, limit: int) -> list[tuple[bytes, int, int]]:
    batches = iter_batches(iter_records(io.BytesIO(data), "Line"), "MultiRecord", limit)
    return [(b.payload, b.first_record, b.count) for b in batches]


def bulk(data: bytes, limit: int, step: int | None = None) -> list[tuple[bytes, int, int]]:
    stream = Trickle(data, step) if step else io.BytesIO(data)
    return [(b.payload, b.first_record, b.count) for b in iter_line_batches(stream, limit)]  # type: ignore[arg-type]


CASES = [
    b"",
    b"\n",
    b"a\n",
    b"a",
    b"a\nb",
    b"a\nb\n",
    b"\n\n\n",
    b"abc\ndef\nghi\n",
    b"1,2\r\n3,4\r\n5,6",
]


@pytest.mark.parametrize("data", CASES)
@pytest.mark.parametrize("limit", [0, 4, 5, 8, 100])
def test_same_batches_as_record_by_record(data: bytes, limit: int) -> None:
    try:
        expected = oracle(data, limit)
    except RecordTooLargeError as exc:
        with pytest.raises(RecordTooLargeError) as got:
            bulk(data, limit)
        assert (got.value.record_number, got.value.size) == (exc.record_number, exc.size)
        return
    assert bulk(data, limit) == expected
    assert bulk(data, limit, step=3) == expected


def test_random_inputs_match_the_oracle() -> None:
    rng = random.Random(15)
    for _ in range(300):
        lines = [b"x" * rng.randint(0, 40) + b"\n" for _ in range(rng.randint(0, 60))]
        data = b"".join(lines)
        if rng.random() < 0.3:
            data += b"tail" * rng.randint(1, 3)
        limit = rng.choice([0, 45, 64, 100, 1000, 70_000])
        step = rng.choice([None, 1, 7, 65_536])
        assert bulk(data, limit, step) == oracle(data, limit), (limit, step)


def test_a_line_longer_than_the_limit_names_its_record_and_size() -> None:
    data = b"ok\n" * 3 + b"y" * 200 + b"\n" + b"ok\n"
    batches = iter_line_batches(io.BytesIO(data), 10)
    assert next(batches).count == 3
    with pytest.raises(RecordTooLargeError) as exc:
        next(batches)
    assert (exc.value.record_number, exc.value.size, exc.value.limit) == (4, 201, 10)


def test_a_long_record_is_measured_past_the_read_buffer() -> None:
    data = b"z" * 300_000  # no newline at all: one record, the whole stream
    with pytest.raises(RecordTooLargeError) as exc:
        list(iter_line_batches(Trickle(data, 10_000), 1000))  # type: ignore[arg-type]
    assert (exc.value.record_number, exc.value.size) == (1, 300_000)
