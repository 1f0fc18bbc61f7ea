"""iter_line_batches (the bulk MultiRecord + Line path) against the record-by-record oracle."""

from __future__ import annotations

import io
import random

import pytest
from trickle import ReadOnly, Trickle

from inferpipe.core.batch import records
from inferpipe.core.batch.records import (
    RecordTooLargeError,
    iter_batches,
    iter_line_batches,
    iter_records,
)


def oracle(data: bytes, limit: int) -> list[tuple[bytes, int, int]]:
    batches = iter_batches(iter_records(io.BytesIO(data), "Line"), "MultiRecord", limit)
    return [(b.payload, b.first_record, b.count) for b in batches]


def bulk(
    data: bytes, limit: int, step: int | None = None, *, hint: int | None = None, read_only: bool = False
) -> list[tuple[bytes, int, int]]:
    """The batches as bytes, all kept until the end: payloads that shared a buffer would show here."""
    if read_only:
        stream: object = ReadOnly(data, step or len(data) + 1)
    else:
        stream = Trickle(data, step) if step else io.BytesIO(data)
    batches = iter_line_batches(stream, limit, hint)  # type: ignore[arg-type]
    return [(bytes(b.payload), b.first_record, b.count) for b in batches]


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


def test_random_inputs_match_the_oracle(monkeypatch: pytest.MonkeyPatch) -> None:
    # a small first buffer for streams of unknown length, so the doubling path runs too
    monkeypatch.setattr(records, "UNSIZED_BUFFER", 16)
    rng = random.Random(15)
    for _ in range(600):
        lines = [b"x" * rng.randint(0, 40) + b"\n" for _ in range(rng.randint(0, 60))]
        data = b"".join(lines)
        if rng.random() < 0.3:
            data += b"tail" * rng.randint(1, 3)
        limit = rng.choice([0, 45, 64, 100, 1000, 70_000])
        step = rng.choice([None, 1, 7, 65_536])
        # the size hint: none, right, or wrong either way (a file that grew or shrank while read)
        hint = rng.choice([None, len(data), len(data) // 2, 2 * len(data) + 3, 0])
        read_only = rng.random() < 0.3
        got = bulk(data, limit, step, hint=hint, read_only=read_only)
        assert got == oracle(data, limit), (limit, step, hint, read_only)


def test_each_payload_is_a_slice_of_a_buffer_of_its_own() -> None:
    data = b"".join(b"%d\n" % i for i in range(10_000))
    batches = list(iter_line_batches(io.BytesIO(data), 1000, len(data)))
    buffers = {id(b.payload.obj) for b in batches}  # type: ignore[union-attr]
    assert len(buffers) == len(batches) > 40
    assert b"".join(bytes(b.payload) for b in batches) == data


def test_a_small_stream_gets_a_buffer_of_its_size_not_of_the_limit() -> None:
    # MaxPayloadInMB 100 and a 5-byte file: the hint keeps the buffer at the file's size
    (batch,) = iter_line_batches(io.BytesIO(b"a\nb\n"), 100 * 1024 * 1024, 5)
    assert bytes(batch.payload) == b"a\nb\n" and batch.count == 2
    assert len(batch.payload.obj) <= 6  # type: ignore[union-attr]


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
