"""Record splitting, batching and reassembly for batch transform (docs/batch-transform.md)."""

from __future__ import annotations

import io
import struct
import tracemalloc

import pytest

from inferpipe.core.batch.records import (
    READ_CHUNK_SIZE,
    RECORDIO_MAGIC,
    Batch,
    RecordFormatError,
    RecordTooLargeError,
    ResponseSplitError,
    assemble,
    crc32c,
    iter_batches,
    iter_chunks,
    iter_records,
    masked_crc32c,
    payload_limit_bytes,
    recordio_payload,
    split_response_records,
    strip_framing,
    tfrecord_data,
)

MAGIC = struct.pack("<I", RECORDIO_MAGIC)


class ShortReads(io.RawIOBase):
    """Returns at most ``step`` bytes per read, as pipes and sockets may, and records requested sizes."""

    def __init__(self, data: bytes, step: int = 3) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._step = step
        self.requested: list[int] = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.requested.append(size)
        if size is None or size < 0:
            size = len(self._data)
        end = min(self._pos + min(size, self._step), len(self._data))
        piece = bytes(self._data[self._pos : end])
        self._pos = end
        return piece


def records_of(data: bytes, split_type: str, *, short: bool = False) -> list[bytes]:
    stream = ShortReads(data) if short else io.BytesIO(data)
    return list(iter_records(stream, split_type))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Test-side encoders, written from the format descriptions rather than from the module


def recordio_frame(payload: bytes, cflag: int = 0) -> bytes:
    header = struct.pack("<II", RECORDIO_MAGIC, (cflag << 29) | len(payload))
    return header + payload + b"\x00" * (-len(payload) % 4)


def recordio_multipart(parts: list[bytes]) -> bytes:
    flags = [1] + [2] * (len(parts) - 2) + [3]
    return b"".join(recordio_frame(p, f) for p, f in zip(parts, flags, strict=True))


def tfrecord_frame(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


# --------------------------------------------------------------------------------------------------
# SplitType None and Line


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", []),
        (b"a", [b"a"]),
        (b"a\n", [b"a\n"]),
        (b"a\nb", [b"a\n", b"b"]),
        (b"a\nb\n", [b"a\n", b"b\n"]),
        (b"a\r\nb\r\n", [b"a\r\n", b"b\r\n"]),
        (b"a\r\nb", [b"a\r\n", b"b"]),
        (b"a\rb\n", [b"a\rb\n"]),
        (b"\n", [b"\n"]),
        (b"a\n\nb\n", [b"a\n", b"\n", b"b\n"]),
        (b"1,2\n3,4\n\n", [b"1,2\n", b"3,4\n", b"\n"]),
    ],
)
@pytest.mark.parametrize("short", [False, True])
def test_line_splitting(data: bytes, expected: list[bytes], short: bool) -> None:
    assert records_of(data, "Line", short=short) == expected


def test_line_splitting_across_chunk_boundaries() -> None:
    lines = [b"x" * n + b"\n" for n in (0, 1, READ_CHUNK_SIZE - 2, READ_CHUNK_SIZE, 3 * READ_CHUNK_SIZE + 5, 7)]
    data = b"".join(lines) + b"tail"
    assert records_of(data, "Line") == [*lines, b"tail"]


@pytest.mark.parametrize(("data", "expected"), [(b"", []), (b"a\nb\n", [b"a\nb\n"]), (b"\x00\xff", [b"\x00\xff"])])
@pytest.mark.parametrize("split_type", ["None", None])
def test_split_none_is_the_whole_object(data: bytes, expected: list[bytes], split_type: str | None) -> None:
    assert list(iter_records(io.BytesIO(data), split_type)) == expected


def test_iter_chunks_streams_in_bounded_pieces() -> None:
    data = bytes(range(256)) * 100
    chunks = list(iter_chunks(io.BytesIO(data), 1000))
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) == 1000


def test_unknown_split_type_fails_before_iterating() -> None:
    with pytest.raises(ValueError, match="SplitType must be one of"):
        iter_records(io.BytesIO(b""), "Csv")


class GeneratedLines(io.RawIOBase):
    """A 50 MB Line stream produced on demand, so the test itself holds almost nothing."""

    LINE = b"0123456789," * 90 + b"end\n"

    def __init__(self, total: int) -> None:
        self._remaining = total
        self._offset = 0
        self.max_request = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        assert size is not None and size > 0, "the splitter asked for the whole stream"
        self.max_request = max(self.max_request, size)
        size = min(size, self._remaining)
        out = bytearray()
        while len(out) < size:
            take = min(size - len(out), len(self.LINE) - self._offset)
            out += self.LINE[self._offset : self._offset + take]
            self._offset = (self._offset + take) % len(self.LINE)
        self._remaining -= size
        return bytes(out)


def test_line_splitting_is_memory_bounded() -> None:
    total = 50 * 1024 * 1024
    stream = GeneratedLines(total)
    tracemalloc.start()
    try:
        count = size = 0
        for record in iter_records(stream, "Line"):  # type: ignore[arg-type]
            count += 1
            size += len(record)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == total
    assert count == -(-total // len(GeneratedLines.LINE))
    assert stream.max_request <= READ_CHUNK_SIZE
    assert peak < 10 * 1024 * 1024


# --------------------------------------------------------------------------------------------------
# RecordIO


RECORDIO_PAYLOADS = [b"", b"a", b"ab", b"abc", b"abcd", b"abcde", bytes(range(256))]


@pytest.mark.parametrize("short", [False, True])
def test_recordio_round_trip(short: bool) -> None:
    frames = [recordio_frame(p) for p in RECORDIO_PAYLOADS]
    records = records_of(b"".join(frames), "RecordIO", short=short)
    assert records == frames
    assert [recordio_payload(r) for r in records] == RECORDIO_PAYLOADS
    assert all(len(r) % 4 == 0 for r in records)


def test_recordio_multipart_records_are_reassembled() -> None:
    # dmlc splits a payload wherever it contains the magic and puts the magic back on read.
    multi = recordio_multipart([b"head", b"mid", b"tail!"])
    two = recordio_multipart([b"x", b""])
    data = recordio_frame(b"solo") + multi + two + recordio_frame(b"end")
    records = records_of(data, "RecordIO")
    assert records == [recordio_frame(b"solo"), multi, two, recordio_frame(b"end")]
    assert recordio_payload(multi) == b"head" + MAGIC + b"mid" + MAGIC + b"tail!"
    assert recordio_payload(two) == b"x" + MAGIC


def _corrupt_recordio_cases() -> list[tuple[bytes, int, str]]:
    good = recordio_frame(b"abcde")  # 16 bytes
    n = len(good)
    bad_magic = struct.pack("<II", 0xDEADBEEF, 1) + b"x\0\0\0"
    return [
        (good + bad_magic, n, "invalid RecordIO magic 0xdeadbeef at byte offset 16"),
        (good + good[:5], n, "truncated RecordIO header at byte offset 16"),
        (good + good[:10], n + 8, "truncated RecordIO payload at byte offset 24"),
        (good + good[:14], n + 8, "truncated RecordIO payload"),
        (good + recordio_frame(b"z", 2), n, "continuation part \\(cflag 2\\) at byte offset 16"),
        (good + recordio_frame(b"z", 3), n, "continuation part \\(cflag 3\\)"),
        (recordio_frame(b"a", 1) + good, 12, "cflag 0 at byte offset 12 interrupts the multi-part record"),
        (recordio_frame(b"a", 1) + recordio_frame(b"b", 1), 12, "cflag 1 at byte offset 12 interrupts"),
        (good + recordio_frame(b"a", 1), n, "starting at byte offset 16 has no final part"),
        (good + recordio_frame(b"a", 5), n, "invalid RecordIO cflag 5 at byte offset 16"),
    ]


@pytest.mark.parametrize(("data", "offset", "message"), _corrupt_recordio_cases())
def test_recordio_corrupt_input(data: bytes, offset: int, message: str) -> None:
    with pytest.raises(RecordFormatError, match=message) as info:
        records_of(data, "RecordIO")
    assert info.value.offset == offset


def test_recordio_records_before_the_corruption_are_still_yielded() -> None:
    records = iter_records(io.BytesIO(recordio_frame(b"ok") + b"junkjunk"), "RecordIO")
    assert next(records) == recordio_frame(b"ok")
    with pytest.raises(RecordFormatError):
        next(records)


# --------------------------------------------------------------------------------------------------
# TFRecord


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 0),
        (b"123456789", 0xE3069283),
        # RFC 3720 (iSCSI) test vectors.
        (b"\x00" * 32, 0x8A9136AA),
        (b"\xff" * 32, 0x62A8AB43),
        (bytes(range(32)), 0x46DD794E),
    ],
)
def test_crc32c(data: bytes, expected: int) -> None:
    assert crc32c(data) == expected


TFRECORD_DATA = [b"", b"x", b"hello tfrecord", bytes(range(256)) * 3]


@pytest.mark.parametrize("short", [False, True])
def test_tfrecord_round_trip(short: bool) -> None:
    frames = [tfrecord_frame(d) for d in TFRECORD_DATA]
    records = records_of(b"".join(frames), "TFRecord", short=short)
    assert records == frames
    assert [tfrecord_data(r) for r in records] == TFRECORD_DATA


def _corrupt_tfrecord_cases() -> list[tuple[bytes, int, str]]:
    good = tfrecord_frame(b"payload")  # 23 bytes
    n = len(good)
    bad_length = bytearray(good)
    bad_length[0] ^= 0x01
    bad_data = bytearray(good)
    bad_data[13] ^= 0x01
    bad_footer = bytearray(good)
    bad_footer[-1] ^= 0x01
    return [
        (good + bytes(bad_length), n, "length checksum mismatch at byte offset 23"),
        (good + bytes(bad_data), n, "data checksum mismatch at byte offset 23"),
        (good + bytes(bad_footer), n, "data checksum mismatch"),
        (good + good[:7], n, "truncated TFRecord header at byte offset 23"),
        (good + good[:15], n + 12, "truncated TFRecord data at byte offset 35"),
        (good + good[:-1], n + 12, "truncated TFRecord data"),
    ]


@pytest.mark.parametrize(("data", "offset", "message"), _corrupt_tfrecord_cases())
def test_tfrecord_corrupt_input(data: bytes, offset: int, message: str) -> None:
    with pytest.raises(RecordFormatError, match=message) as info:
        records_of(data, "TFRecord")
    assert info.value.offset == offset


def test_tfrecord_data_checksum_can_be_skipped() -> None:
    corrupt = bytearray(tfrecord_frame(b"payload"))
    corrupt[13] ^= 0x01
    assert list(iter_records(io.BytesIO(bytes(corrupt)), "TFRecord", verify_crc=False)) == [bytes(corrupt)]


@pytest.mark.parametrize("record", [b"short", tfrecord_frame(b"abc") + b"x"])
def test_tfrecord_data_rejects_misframed_records(record: bytes) -> None:
    with pytest.raises(RecordFormatError):
        tfrecord_data(record)


@pytest.mark.parametrize(
    ("record", "split_type", "expected"),
    [
        (recordio_frame(b"abcde"), "RecordIO", b"abcde"),
        (tfrecord_frame(b"abcde"), "TFRecord", b"abcde"),
        (b"a,b\n", "Line", b"a,b\n"),
        (b"blob", "None", b"blob"),
        (b"blob", None, b"blob"),
    ],
)
def test_strip_framing(record: bytes, split_type: str | None, expected: bytes) -> None:
    assert strip_framing(record, split_type) == expected


# --------------------------------------------------------------------------------------------------
# Batching


TEN = [bytes([65 + i]) * 10 for i in range(5)]  # five 10-byte records


def shape(batches: list[Batch]) -> list[tuple[int, int]]:
    return [(b.first_record, b.count) for b in batches]


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (0, [(0, 5)]),  # unlimited
        (50, [(0, 5)]),  # exactly at the limit
        (49, [(0, 4), (4, 1)]),  # one byte short of fitting all five
        (30, [(0, 3), (3, 2)]),
        (29, [(0, 2), (2, 2), (4, 1)]),
        (20, [(0, 2), (2, 2), (4, 1)]),
        (10, [(0, 1), (1, 1), (2, 1), (3, 1), (4, 1)]),
    ],
)
def test_multirecord_packing(limit: int, expected: list[tuple[int, int]]) -> None:
    batches = list(iter_batches(TEN, "MultiRecord", limit))
    assert shape(batches) == expected
    assert b"".join(b.payload for b in batches) == b"".join(TEN)
    for batch in batches:
        assert batch.payload == b"".join(TEN[batch.first_record : batch.first_record + batch.count])
        assert limit == 0 or len(batch.payload) <= limit


@pytest.mark.parametrize("strategy", ["SingleRecord", "SINGLE_RECORD"])
def test_singlerecord(strategy: str) -> None:
    batches = list(iter_batches(TEN, strategy, 10))
    assert batches == [Batch(r, i, 1) for i, r in enumerate(TEN)]


@pytest.mark.parametrize("strategy", ["SingleRecord", "MultiRecord", "MULTI_RECORD"])
def test_record_larger_than_the_payload_limit(strategy: str) -> None:
    records = [b"a" * 5, b"b" * 5, b"c" * 12, b"d"]
    batches = iter_batches(records, strategy, 11)
    with pytest.raises(RecordTooLargeError, match="Record 3 is 12 bytes.*11 bytes") as info:
        list(batches)
    assert (info.value.record_number, info.value.size, info.value.limit) == (3, 12, 11)


def test_no_records_means_no_batches() -> None:
    assert list(iter_batches([], "MultiRecord", 10)) == []
    assert list(iter_batches(iter(()), "SingleRecord", 0)) == []


def test_binary_framing_is_stripped_for_singlerecord_and_kept_for_multirecord() -> None:
    frames = [recordio_frame(b"abcde"), recordio_frame(b"xy")]
    single = list(iter_batches(frames, "SingleRecord", 0, split_type="RecordIO"))
    assert [b.payload for b in single] == [b"abcde", b"xy"]
    multi = list(iter_batches(frames, "MultiRecord", 0, split_type="RecordIO"))
    assert [b.payload for b in multi] == [b"".join(frames)]
    tf = list(iter_batches([tfrecord_frame(b"q")], "SingleRecord", 0, split_type="TFRecord"))
    assert tf[0].payload == b"q"


@pytest.mark.parametrize(
    ("strategy", "limit", "message"),
    [("Multi", 1, "BatchStrategy"), ("MultiRecord", -1, "max_payload_bytes")],
)
def test_iter_batches_argument_errors(strategy: str, limit: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        iter_batches(TEN, strategy, limit)


def test_payload_limit_bytes() -> None:
    assert payload_limit_bytes(6) == 6 * 1024 * 1024
    assert payload_limit_bytes(0) == 0
    with pytest.raises(ValueError):
        payload_limit_bytes(-1)


# --------------------------------------------------------------------------------------------------
# Reassembly


@pytest.mark.parametrize(
    ("outputs", "assemble_with", "expected"),
    [
        ([b"1", b"2\n", b"3,4\n5,6\n", b""], "Line", b"1\n2\n3,4\n5,6\n\n"),
        ([b" 1 ", b"2\r\n"], "Line", b" 1 \n2\r\n"),
        ([b"1", b"2\n", b"\x00\x01"], "None", b"12\n\x00\x01"),
        ([b"1", b"2"], None, b"12"),
        ([], "Line", b""),
    ],
)
def test_assemble(outputs: list[bytes], assemble_with: str | None, expected: bytes) -> None:
    assert b"".join(assemble(outputs, assemble_with)) == expected


def test_assemble_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="AssembleWith"):
        assemble([], "Lines")


@pytest.mark.parametrize(
    ("body", "n", "content_type", "expected"),
    [
        (b"0.1\n0.2\n0.3\n", 3, "text/csv", [b"0.1", b"0.2", b"0.3"]),
        (b"0.1\n0.2\n0.3", 3, "text/csv", [b"0.1", b"0.2", b"0.3"]),
        (b"0.1\r\n0.2\r\n", 2, "text/csv; charset=utf-8", [b"0.1", b"0.2"]),
        (b"a,b\n\nc\n\n\n", 3, "text/csv", [b"a,b", b"", b"c"]),
        (b'{"a":1}\n{"a":2}\n', 2, "application/jsonlines", [b'{"a":1}', b'{"a":2}']),
        (b'[1, 2.50, {"x": 3}]', 3, "application/json", [b"1", b"2.50", b'{"x":3}']),
        (b' {"a":1} {"a":2}\n', 2, "application/json", [b'{"a":1}', b'{"a":2}']),
        (b"[1,2]\n[3,4]\n", 2, "application/json", [b"[1,2]", b"[3,4]"]),
        (b"[[1,2],[3,4]]", 2, "application/json", [b"[1,2]", b"[3,4]"]),
        # n == 1 is the whole body whatever the type, exactly as SingleRecord would see it.
        (b"[1,2,3]\n", 1, "application/json", [b"[1,2,3]"]),
        (b"a\nb\n", 1, "text/csv", [b"a\nb"]),
        (b"\x89PNG", 1, "image/png", [b"\x89PNG"]),
    ],
)
def test_split_response_records(body: bytes, n: int, content_type: str, expected: list[bytes]) -> None:
    assert split_response_records(body, n, content_type) == expected


@pytest.mark.parametrize(
    ("body", "n", "content_type", "message"),
    [
        (b"0.1\n0.2\n", 3, "text/csv", "expected 3 records in the text/csv response, found 2 lines"),
        (b"0.1\n0.2\n0.3\n", 2, "text/csv", "expected 2 records .* found 3 lines"),
        (b"[1,2,3]", 2, "application/json", "found an array of 3 items"),
        (b'{"a":1}', 2, "application/json", "found 1 JSON values"),
        (b"1 2 3", 2, "application/json", "found 3 JSON values"),
        (b"[1,2", 2, "application/json", "not valid JSON"),
        (b"\xff", 2, "application/json", "not valid UTF-8"),
        (b"ab", 2, "application/octet-stream", "cannot split"),
        (b"ab", 2, None, "cannot split"),
    ],
)
def test_split_response_records_errors(body: bytes, n: int, content_type: str | None, message: str) -> None:
    with pytest.raises(ResponseSplitError, match=message):
        split_response_records(body, n, content_type)


def test_split_response_records_needs_a_positive_count() -> None:
    with pytest.raises(ValueError):
        split_response_records(b"", 0, "text/csv")
