"""One input file of a transform job through one instance: mini-batches, in flight, in order.
Design notes: docs/batch-transform.md."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from inferpipe.core.batch.dataprocessing import DataProcessing, DataProcessingError, process_record
from inferpipe.core.batch.inputs import CountingReader, InputFile, decompressed, open_input
from inferpipe.core.batch.outputs import BufferedOutput
from inferpipe.core.batch.pool import ChainPool
from inferpipe.core.batch.records import (
    MULTI_RECORD,
    SINGLE_RECORD,
    Batch,
    RecordFormatError,
    RecordTooLargeError,
    ResponseSplitError,
    assemble,
    assembled,
    iter_batches,
    iter_line_batches,
    iter_records,
    iter_single_lines,
    split_response_records,
)
from inferpipe.core.batch.s3data import S3OutputWriter, open_object
from inferpipe.core.containers.chain import Body, ContainerCallError, FirstContainerUnreachable, run_chain
from inferpipe.core.containers.hostpaths import create_file
from inferpipe.core.containers.runtime import ContainerHandle
from inferpipe.core.retry import retry
from inferpipe.core.s3.errors import S3Error
from inferpipe.core.s3.objects import S3Objects

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
READ_GROUP_ITEMS = 256  # mini-batches fetched per worker-thread hop
READ_GROUP_BYTES = 1024 * 1024
RETRY_BACKOFF = 0.25


@dataclass(frozen=True)
class BatchSettings:
    """The batch parameters in effect for one instance (API values, /execution-parameters, defaults)."""

    split_type: str
    strategy: str  # SingleRecord | MultiRecord
    max_payload_bytes: int  # 0: unlimited
    max_concurrent: int
    content_type: str | None
    accept: str | None
    assemble_with: str
    compression: str
    timeout: float
    retries: int
    data_processing: DataProcessing = field(default_factory=DataProcessing)


class FileFailed(Exception):
    """The file cannot be transformed; the message names the file, the record(s) and the cause."""


@dataclass
class Work:
    payload: Body
    first: int  # 0-based number of the first record in the file
    count: int
    originals: list[bytes] | None  # the unfiltered input records, kept only for JoinSource=Input
    end: int = 0  # how far into the input file (bytes on disk) this mini-batch reaches, for progress

    def where(self) -> str:
        first = self.first + 1
        return f"record {first}" if self.count == 1 else f"records {first}-{first + self.count - 1}"


class BatchReader:
    """File -> records -> InputFilter -> mini-batches. Its methods run in worker threads; a lock keeps
    ``close`` from racing a read still running in a thread after the job was stopped."""

    def __init__(self, file: InputFile, settings: BatchSettings, objects: S3Objects | None = None) -> None:
        self.file = file
        self.settings = settings
        self.objects = objects  # for an input on S3
        self.records_read = 0
        self.consumed = 0  # bytes of the records split so far (the file position, uncompressed input)
        self._lock = threading.Lock()
        self._counter: CountingReader | None = None
        self._stream: object | None = None
        self._batches: Iterator[Batch] | None = None
        self._originals: deque[bytes] = deque()
        self._closed = False
        self._bulk = False  # batches straight from the file, counted as they are taken

    @property
    def bytes_read(self) -> int:
        return self._counter.count if self._counter else 0

    def open(self) -> None:
        s = self.settings
        limit = s.max_payload_bytes
        if s.split_type == "None" and s.compression != "Gzip" and limit and self.file.size > limit:
            raise self._failed(RecordTooLargeError(1, self.file.size, limit))
        try:
            if self.file.s3 is not None:
                assert self.objects is not None
                stream, self._counter = decompressed(open_object(self.objects, self.file.s3), s.compression)
            else:
                stream, self._counter = open_input(self.file.path, s.compression)
        except S3Error as exc:
            raise FileFailed(f"{self.file.relative}: cannot read the input object: {exc.reason}") from exc
        except OSError as exc:
            raise FileFailed(f"{self.file.relative}: cannot open the input file: {exc.strerror or exc}") from exc
        self._stream = stream
        strategy = SINGLE_RECORD if s.split_type == "None" else s.strategy
        if s.split_type == "Line" and s.data_processing.is_default:
            # records that pass through untouched: cut in bulk (MultiRecord) or one generator per
            # request (SingleRecord), counted in ``take`` rather than one generator more per record
            if strategy == MULTI_RECORD:
                # the file's size sizes the read buffers; unknown once decompressed
                hint = None if s.compression == "Gzip" else self.file.size
                self._batches = iter_line_batches(stream, limit, hint)
            else:
                self._batches = iter_single_lines(stream, limit)
            self._bulk = True
            return
        records = self._filtered(iter_records(stream, s.split_type))
        self._batches = iter_batches(records, strategy, limit, split_type=s.split_type)

    def _filtered(self, records: Iterator[bytes]) -> Iterator[bytes]:
        dp = self.settings.data_processing
        keep = dp.joins_input
        for record in records:
            self.records_read += 1
            self.consumed += len(record)
            if keep:
                self._originals.append(record)
            yield record if dp.is_default else dp.filter_input(record, self.settings.content_type)

    def take(self, max_items: int = READ_GROUP_ITEMS, max_bytes: int = READ_GROUP_BYTES) -> list[Work]:
        """The next mini-batches, at most ``max_items`` or about ``max_bytes``; empty at the end."""
        with self._lock:
            if self._closed or self._batches is None:
                return []
            out: list[Work] = []
            size = 0
            try:
                for batch in self._batches:
                    if self._bulk:
                        self.records_read += batch.count
                        self.consumed += len(batch.payload)
                    originals = None
                    if self.settings.data_processing.joins_input:
                        originals = [self._originals.popleft() for _ in range(batch.count)]
                    end = self.bytes_read if self.settings.compression == "Gzip" else self.consumed
                    out.append(Work(batch.payload, batch.first_record, batch.count, originals, end))
                    size += len(batch.payload)
                    if len(out) >= max_items or size >= max_bytes:
                        break
            except (
                RecordTooLargeError,
                RecordFormatError,
                DataProcessingError,
                OSError,
                S3Error,
                EOFError,
                zlib.error,
            ) as exc:
                raise self._failed(exc) from exc
            return out

    def _failed(self, exc: Exception) -> FileFailed:
        name = self.file.relative
        if isinstance(exc, RecordTooLargeError):
            return FileFailed(f"{name}: record {exc.record_number}: {exc}.")
        if isinstance(exc, RecordFormatError):
            return FileFailed(
                f"{name}: record {self.records_read + 1}: the input is not valid {self.settings.split_type}: {exc}."
            )
        if isinstance(exc, DataProcessingError):
            return FileFailed(f"{name}: record {self.records_read}: InputFilter: {exc}.")
        if isinstance(exc, S3Error):
            return FileFailed(f"{name}: cannot read the input object: {exc.reason}")
        if isinstance(exc, (EOFError, zlib.error)) or type(exc).__name__ == "BadGzipFile":
            return FileFailed(f"{name}: the input is not valid gzip (CompressionType Gzip): {exc}.")
        return FileFailed(f"{name}: cannot read the input file: {exc}.")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for obj in (self._stream, self._counter):
                close = getattr(obj, "close", None)
                if close is not None:
                    with contextlib.suppress(OSError, ValueError):
                        close()


class OutputWriter(BufferedOutput):
    """Buffered writes to the partial file; ``commit`` renames it to the final name. Both paths are
    resolved and in one directory, which is reached without following links (hostpaths.create_file),
    so an output never lands outside S3OutputPath."""

    def __init__(self, final: Path, partial: Path) -> None:
        super().__init__()
        self.final = final
        self.partial = partial
        self._fh: object | None = None
        self._dir_fd: int | None = None

    def open(self) -> None:
        self._dir_fd, fd = create_file(self.partial)
        self._fh = os.fdopen(fd, "wb")

    def _send(self, pieces: Sequence[bytes]) -> None:
        self._fh.writelines(pieces)  # type: ignore[union-attr]

    async def commit(self) -> None:
        await self.flush()
        await asyncio.to_thread(self._rename)

    def _rename(self) -> None:
        self._fh.close()  # type: ignore[union-attr]
        os.replace(self.partial.name, self.final.name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd)
        self._close_dir()

    def discard(self) -> None:
        self._drop_buffer()
        if self._fh is not None:
            self._fh.close()  # type: ignore[attr-defined]
        if self._dir_fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.partial.name, dir_fd=self._dir_fd)
            self._close_dir()

    def _close_dir(self) -> None:
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None


def retryable(exc: ContainerCallError) -> bool:
    return exc.timeout or exc.connection or exc.unreadable or exc.status in RETRYABLE_STATUS


def explain(exc: ContainerCallError) -> str:
    if exc.timeout or exc.connection or exc.unreadable:
        return exc.message
    kind = "client" if 400 <= exc.status < 500 else "server"
    message = exc.message.strip()
    if len(message) > 300:
        message = message[:297] + "..."
    return f'Received {kind} error ({exc.status}) from {exc.hostname} with message "{message}".'


async def call_chain(
    session: aiohttp.ClientSession, containers: Sequence[ContainerHandle], body: Body, s: BatchSettings
) -> tuple[bytes, str | None]:
    """One request through every container, within InvocationsTimeoutInSeconds for the whole chain.

    Each hop is its own ``run_chain`` call: the same header rules and error classification as the
    endpoints, without the real-time 5 MB inter-container cap, which batch payloads of up to
    MaxPayloadInMB (100 MB) would trip (SageMaker documents that cap for endpoints only)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + s.timeout
    content_type = s.content_type
    for cont in containers:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise ContainerCallError(
                cont.hostname,
                0,
                f"The invocation timed out after {s.timeout:g} s (InvocationsTimeoutInSeconds) before reaching"
                f" container {cont.hostname}.",
                timeout=True,
            )
        try:
            result = await run_chain(
                session, [cont], body, content_type=content_type, accept=s.accept, timeout=remaining
            )
        except FirstContainerUnreachable as exc:
            raise ContainerCallError(
                cont.hostname, 500, f"Could not connect to container {cont.hostname}: {exc}", connection=True
            ) from exc
        body, content_type = result.body, result.content_type
    return body, content_type


async def call_with_retries(
    session: aiohttp.ClientSession, containers: Sequence[ContainerHandle], body: Body, s: BatchSettings
) -> tuple[bytes, str | None]:
    return await retry(
        lambda _n: call_chain(session, containers, body, s),
        attempts=s.retries + 1,
        retry_on=lambda exc: isinstance(exc, ContainerCallError) and retryable(exc),
        delay=RETRY_BACKOFF,
        backoff=2,
    )


def output_pieces(work: Work, body: bytes, content_type: str | None, s: BatchSettings) -> list[bytes]:
    """What one mini-batch adds to the output file: the response as is, or (DataProcessing) one
    output per record, joined with its input and filtered, then assembled."""
    dp = s.data_processing
    if dp.is_default:
        return assembled(body, s.assemble_with)
    outputs = split_response_records(body, work.count, content_type or s.accept)
    originals = work.originals or [b""] * work.count
    processed = [
        process_record(original, output, dp, s.content_type, s.accept)
        for original, output in zip(originals, outputs, strict=True)
    ]
    return list(assemble(processed, s.assemble_with))


class FileTransform:
    """Transforms one input file on one instance. ``run`` raises FileFailed, or CancelledError on stop;
    either way the partial output is gone."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        containers: Sequence[ContainerHandle] | ChainPool,
        file: InputFile,
        final: Path,
        partial: Path,
        settings: BatchSettings,
        *,
        objects: S3Objects | None = None,
        writer: S3OutputWriter | None = None,
    ) -> None:
        self.session = session
        # a bare chain (one instance) gets a pool of its own; a job passes the pool of all its instances
        self.pool = (
            containers if isinstance(containers, ChainPool) else ChainPool([containers], settings.max_concurrent)
        )
        self.file = file
        self.settings = settings
        self.reader = BatchReader(file, settings, objects)
        # an output on S3 comes with its writer; ``final`` and ``partial`` are then unused
        self.writer: OutputWriter | S3OutputWriter = writer or OutputWriter(final, partial)
        self.records_done = 0
        self.bytes_done = 0  # input bytes (on disk) whose records are written

    def _read(self, max_items: int = READ_GROUP_ITEMS) -> asyncio.Task[list[Work]]:
        """The next mini-batches, read in a worker thread; the pool's files hear when they are in."""
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self.reader.take, max_items))
        task.add_done_callback(lambda _t: self.pool.notify())
        return task

    async def _one(self, work: Work) -> list[bytes]:
        s = self.settings
        async with self.pool.slot() as chain:
            try:
                body, content_type = await call_with_retries(self.session, chain, work.payload, s)
            except ContainerCallError as exc:
                raise FileFailed(f"{self.file.relative}: {work.where()}: {explain(exc)}") from exc
        work.payload = b""  # the request body is no longer needed; keep the window's memory small
        try:
            if s.data_processing.is_default:
                return output_pieces(work, body, content_type, s)
            return await asyncio.to_thread(output_pieces, work, body, content_type, s)
        except (ResponseSplitError, DataProcessingError) as exc:
            raise FileFailed(
                f"{self.file.relative}: {work.where()}: the model's response cannot be matched to the input"
                f" records: {exc}."
            ) from exc

    async def run(self) -> None:
        window: deque[tuple[Work, asyncio.Task[list[bytes]]]] = deque()
        pool = self.pool
        ready: deque[Work] = deque()
        reading: asyncio.Task[list[Work]] | None = None
        eof = False
        try:
            await asyncio.to_thread(self.reader.open)
            try:
                await asyncio.to_thread(self.writer.open)
            except OSError as exc:
                raise FileFailed(f"{self.file.relative}: cannot write the output: {exc}") from exc
            # the first request waits only for its own mini-batch, not for a whole group of them
            reading = self._read(1)
            while True:
                if not ready and reading is not None and reading.done():
                    group = reading.result()
                    reading = None
                    if group:
                        ready.extend(group)
                        # read the next group while these are in flight, so no request waits on the disk
                        reading = self._read()
                    else:
                        eof = True
                while ready and pool.may_start():
                    work = ready.popleft()
                    task = asyncio.get_running_loop().create_task(self._one(work))
                    pool.started(task)
                    window.append((work, task))
                if window and window[0][1].done():
                    # written as soon as it is the head, so finished responses never wait on the next start
                    work, task = window.popleft()
                    try:
                        pieces = task.result()
                        try:
                            await self.writer.write(pieces)
                        except OSError as exc:
                            raise FileFailed(f"{self.file.relative}: cannot write the output: {exc}") from exc
                    finally:
                        pool.written()
                    self.records_done += work.count
                    self.bytes_done = work.end
                    continue
                if eof and not ready and not window:
                    break
                await pool.changed()
            try:
                await self.writer.commit()
            except OSError as exc:
                raise FileFailed(f"{self.file.relative}: cannot write the output: {exc}") from exc
        except BaseException:
            tasks = [t for _, t in window] + ([reading] if reading is not None else [])
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            pool.written(len(window))
            await asyncio.shield(asyncio.to_thread(self.writer.discard))
            raise
        finally:
            await asyncio.shield(asyncio.to_thread(self.reader.close))
