"""iter_single_lines (SingleRecord + Line, no DataProcessing) and ``assembled`` against the
record-by-record path they stand in for."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from trickle import Trickle

from inferpipe.core.batch.inputs import InputFile
from inferpipe.core.batch.minibatch import BatchReader, BatchSettings
from inferpipe.core.batch.records import (
    RecordTooLargeError,
    assemble,
    assembled,
    iter_batches,
    iter_records,
    iter_single_lines,
)


def oracle(data: bytes, limit: int) -> list[tuple[bytes, int, int]]:
    batches = iter_batches(iter_records(io.BytesIO(data), "Line"), "SingleRecord", limit, split_type="Line")
    return [(b.payload, b.first_record, b.count) for b in batches]


def lean(data: bytes, limit: int, step: int | None = None) -> list[tuple[bytes, int, int]]:
    stream = Trickle(data, step) if step else io.BytesIO(data)
    return [(b.payload, b.first_record, b.count) for b in iter_single_lines(stream, limit)]  # type: ignore[arg-type]


CASES = [b"", b"\n", b"a\n", b"a", b"a\nb", b"a\nb\n", b"\n\n\n", b"abc\ndef\nghi\n", b"1,2\r\n3,4\r\n5,6"]


def outcome(fn, data: bytes, limit: int, step: int | None = None):  # type: ignore[no-untyped-def]
    try:
        return fn(data, limit, step) if step else fn(data, limit)
    except RecordTooLargeError as exc:
        return ("too large", exc.record_number, exc.size, exc.limit)


@pytest.mark.parametrize("data", CASES)
@pytest.mark.parametrize("limit", [0, 1, 2, 3, 4, 100])
def test_same_batches_as_record_by_record(data: bytes, limit: int) -> None:
    expected = outcome(oracle, data, limit)
    assert outcome(lean, data, limit) == expected
    assert outcome(lean, data, limit, 2) == expected


def test_random_inputs_match_the_oracle() -> None:
    rng = random.Random(15)
    for _ in range(300):
        lines = [b"x" * rng.randint(0, 40) + b"\n" for _ in range(rng.randint(0, 60))]
        data = b"".join(lines)
        if rng.random() < 0.3:
            data += b"tail" * rng.randint(1, 3)
        limit = rng.choice([0, 20, 41, 1000])
        step = rng.choice([None, 1, 7, 65_536])
        assert outcome(lean, data, limit, step) == outcome(oracle, data, limit), (limit, step)


def test_a_long_line_is_refused_with_its_whole_size_without_being_kept() -> None:
    data = b"ok\n" + b"z" * 300_000 + b"\nok\n"
    batches = iter_single_lines(Trickle(data, 10_000), 1000)  # type: ignore[arg-type]
    assert next(batches).payload == b"ok\n"
    with pytest.raises(RecordTooLargeError) as exc:
        next(batches)
    assert (exc.value.record_number, exc.value.size) == (2, 300_001)


@pytest.mark.parametrize("body", [b"", b"x", b"x\n", b"a\nb"])
@pytest.mark.parametrize("how", [None, "None", "Line"])
def test_assembled_is_assemble_of_one_response(body: bytes, how: str | None) -> None:
    assert assembled(body, how) == list(assemble([body], how))


def test_assembled_refuses_an_unknown_assemble_with() -> None:
    with pytest.raises(ValueError, match="AssembleWith"):
        assembled(b"x", "Comma")


def reader_settings(strategy: str, limit: int) -> BatchSettings:
    return BatchSettings(
        split_type="Line",
        strategy=strategy,
        max_payload_bytes=limit,
        max_concurrent=1,
        content_type="text/csv",
        accept=None,
        assemble_with="Line",
        compression="None",
        timeout=10.0,
        retries=0,
    )


@pytest.mark.parametrize(("strategy", "limit"), [("SingleRecord", 100), ("MultiRecord", 10)])
def test_the_reader_counts_records_and_bytes_of_what_it_hands_out(tmp_path: Path, strategy: str, limit: int) -> None:
    data = b"a,1\nbb,2\n\nccc,3\nd"
    src = tmp_path / "in.csv"
    src.write_bytes(data)
    reader = BatchReader(InputFile(src, "in.csv", len(data)), reader_settings(strategy, limit))
    reader.open()
    try:
        first = reader.take(1)
        assert len(first) == 1 and (reader.records_read, reader.consumed) == (first[0].count, first[0].end)
        works = first + reader.take() + reader.take()
    finally:
        reader.close()
    expected = list(iter_batches(iter_records(io.BytesIO(data), "Line"), strategy, limit, split_type="Line"))
    assert [(w.payload, w.first, w.count) for w in works] == [(b.payload, b.first_record, b.count) for b in expected]
    ends = [w.end for w in works]
    assert ends == sorted(ends) and ends[-1] == len(data), "each mini-batch says how far into the file it reaches"
    assert (reader.records_read, reader.consumed) == (5, len(data))
