"""CreateTransformJob validation, the job spec, local data sources, and the mini-batch engine against
in-process fake containers (no Docker)."""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
import random
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from inferpipe.cli.params import absolute_path, load_value
from inferpipe.core.api.transform_job import INSTANCE_TYPES, validate_create_transform_job
from inferpipe.core.batch.dataprocessing import DataProcessing
from inferpipe.core.batch.inputs import (
    InputError,
    InputFile,
    list_inputs,
    local_path,
    output_file,
    partial_file,
    remove_partials,
)
from inferpipe.core.batch.minibatch import BatchSettings, FileFailed, FileTransform, Work, output_pieces, retryable
from inferpipe.core.batch.pool import ChainPool
from inferpipe.core.batch.spec import TransformSpec
from inferpipe.core.containers.chain import ContainerCallError, new_session
from inferpipe.core.containers.runtime import ContainerHandle
from inferpipe.core.errors import ValidationException

BASE: dict[str, Any] = {
    "TransformJobName": "job-1",
    "ModelName": "m",
    "TransformInput": {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "/data/in/"}},
        "ContentType": "text/csv",
        "SplitType": "Line",
    },
    "TransformOutput": {"S3OutputPath": "/data/out/", "AssembleWith": "Line", "Accept": "text/csv"},
    "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
}


def req(**changes: Any) -> dict[str, Any]:
    """BASE with top-level members replaced (None removes) and nested ones as 'A.B.C' keys."""
    out = copy.deepcopy(BASE)
    for key, value in changes.items():
        parts = key.split("__")
        target = out
        for p in parts[:-1]:
            target = target.setdefault(p, {})
        if value is None:
            target.pop(parts[-1], None)
        else:
            target[parts[-1]] = value
    return out


def error_of(request: dict[str, Any]) -> str:
    with pytest.raises(ValidationException) as err:
        validate_create_transform_job(request)
    return err.value.message


# validation ----------------------------------------------------------------------------------------
def test_valid_request_passes() -> None:
    validate_create_transform_job(req())
    validate_create_transform_job(req(MaxConcurrentTransforms=0, MaxPayloadInMB=0, BatchStrategy="SingleRecord"))


def test_instance_types_are_the_service_models_enum() -> None:
    assert len(INSTANCE_TYPES) == 116
    assert INSTANCE_TYPES[0] == "ml.m4.xlarge" and INSTANCE_TYPES[-1] == "ml.g6e.48xlarge"
    assert "ml.m5.large" in INSTANCE_TYPES


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"TransformJobName": None},
            "Value null at 'transformJobName' failed to satisfy constraint: Member must not be null",
        ),
        (
            {"TransformJobName": "bad_name"},
            "at 'transformJobName' failed to satisfy constraint: Member must satisfy regular expression pattern",
        ),
        ({"TransformJobName": "a" * 64}, "Member must have length less than or equal to 63"),
        ({"ModelName": None}, "Value null at 'modelName'"),
        (
            {"MaxPayloadInMB": 101},
            "Value '101' at 'maxPayloadInMB'"
            " failed to satisfy constraint: Member must have value less than or equal to",
        ),
        (
            {"MaxPayloadInMB": -1},
            "at 'maxPayloadInMB' failed to satisfy constraint: Member must have value greater than or equal to 0",
        ),
        ({"MaxConcurrentTransforms": -1}, "at 'maxConcurrentTransforms'"),
        (
            {"BatchStrategy": "Multi"},
            "at 'batchStrategy'"
            " failed to satisfy constraint: Member must satisfy enum value set: [MultiRecord, SingleRecord]",
        ),
        (
            {"TransformInput__SplitType": "Lines"},
            "at 'transformInput.splitType'"
            " failed to satisfy constraint: Member must satisfy enum value set: [None, Line,",
        ),
        ({"TransformInput__CompressionType": "gzip"}, "at 'transformInput.compressionType'"),
        (
            {"TransformInput__DataSource__S3DataSource__S3DataType": "Prefix"},
            "at 'transformInput.dataSource.s3DataSource.s3DataType'",
        ),
        (
            {"TransformInput__DataSource__S3DataSource__S3Uri": None},
            "Value null at 'transformInput.dataSource.s3DataSource.s3Uri'",
        ),
        ({"TransformInput__DataSource": None}, "Value null at 'transformInput.dataSource'"),
        ({"TransformOutput__AssembleWith": "Lines"}, "at 'transformOutput.assembleWith'"),
        ({"TransformOutput__S3OutputPath": None}, "Value null at 'transformOutput.s3OutputPath'"),
        ({"TransformOutput": None}, "Value null at 'transformOutput'"),
        (
            {"TransformResources__InstanceType": "ml.m5.huge"},
            "at 'transformResources.instanceType'"
            " failed to satisfy constraint: Member must satisfy enum value set: [ml.m4",
        ),
        (
            {"TransformResources__InstanceCount": 0},
            "at 'transformResources.instanceCount'"
            " failed to satisfy constraint: Member must have value greater than or",
        ),
        (
            {"ModelClientConfig": {"InvocationsTimeoutInSeconds": 3601}},
            "at 'modelClientConfig.invocationsTimeoutInSeconds'",
        ),
        (
            {"ModelClientConfig": {"InvocationsMaxRetries": 4}},
            "at 'modelClientConfig.invocationsMaxRetries'"
            " failed to satisfy constraint: Member must have value less than",
        ),
        (
            {"Environment": {f"K{i}": "v" for i in range(17)}},
            "at 'environment' failed to satisfy constraint: Member must have length less than or equal to 16",
        ),
        ({"Environment": {"1BAD": "v"}}, "Map keys must satisfy constraint"),
        ({"Environment": {"K": "v" * 10241}}, "Member must have length less than or equal to 10240"),
        (
            {"DataProcessing": {"JoinSource": "Output"}},
            "at 'dataProcessing.joinSource'"
            " failed to satisfy constraint: Member must satisfy enum value set: [Input, None",
        ),
        (
            {"DataProcessing": {"InputFilter": "$" + "[1]" * 21}},
            "at 'dataProcessing.inputFilter' failed to satisfy constraint: Member must have length less than or equal",
        ),
    ],
)
def test_member_constraints(changes: dict[str, Any], expected: str) -> None:
    message = error_of(req(**changes))
    assert "validation error" in message and expected in message, message


def test_all_member_errors_reported_together() -> None:
    message = error_of(req(TransformJobName="bad_name", MaxPayloadInMB=500, BatchStrategy="x"))
    assert message.startswith("3 validation errors detected: ")


@pytest.mark.parametrize(
    ("mct", "payload", "ok"),
    [
        (16, None, True),
        (17, None, False),
        (10, 10, True),
        (11, 10, False),
        (1, 100, True),
        (2, 100, False),
        (0, 100, True),
        (100, 1, True),
        (100, 0, True),
    ],
)
def test_concurrency_times_payload_at_most_100(mct: int, payload: int | None, ok: bool) -> None:
    request = req(MaxConcurrentTransforms=mct, MaxPayloadInMB=payload)
    if ok:
        validate_create_transform_job(request)
    else:
        assert "multiplied by MaxPayloadInMB" in error_of(request)


def test_csv_joins_need_split_type_line_and_assemble_line() -> None:
    dp = {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}
    validate_create_transform_job(req(DataProcessing=dp))
    message = error_of(req(DataProcessing=dp, TransformInput__SplitType="None"))
    assert "SplitType must be Line when DataProcessing is used with text/csv, got None." in message
    message = error_of(req(DataProcessing=dp, TransformOutput__AssembleWith="None"))
    assert "AssembleWith must be Line" in message
    assert "validation error" not in message  # a service rule, in its own words


def test_data_processing_content_types() -> None:
    dp = {"InputFilter": "$.features"}
    message = error_of(req(DataProcessing=dp, TransformInput__ContentType="application/x-image"))
    assert "ContentType must be one of text/csv, application/json, application/jsonlines" in message
    message = error_of(req(DataProcessing={"OutputFilter": "$[0]"}, TransformOutput__Accept="image/png"))
    assert "Accept must be one of" in message
    # CSV allows index paths only
    assert "index-based paths" in error_of(req(DataProcessing={"InputFilter": "$.a"}))
    assert "recursive descent" in error_of(req(DataProcessing={"InputFilter": "$..a"}))
    # the default DataProcessing puts no restriction on the content type
    validate_create_transform_job(req(DataProcessing={"InputFilter": "$"}, TransformInput__ContentType="image/png"))
    validate_create_transform_job(
        req(
            DataProcessing={"InputFilter": "$.features", "JoinSource": "Input"},
            TransformInput__ContentType="application/jsonlines",
            TransformOutput__Accept="application/jsonlines",
            TransformOutput__AssembleWith="None",
        )
    )


def test_augmented_manifest_refused() -> None:
    message = error_of(req(TransformInput__DataSource__S3DataSource__S3DataType="AugmentedManifestFile"))
    assert "not compatible with batch transform" in message


def test_spec_defaults_and_container_env() -> None:
    spec = TransformSpec.from_api(req())
    assert (spec.max_concurrent, spec.max_payload_mb, spec.batch_strategy) == (None, None, None)
    assert (spec.timeout, spec.retries, spec.compression, spec.split_type) == (600, 3, "None", "Line")
    # only what the call set is passed on: as AWS documents, the rest comes from the container's
    # /execution-parameters, then the defaults
    assert spec.container_env() == {"SAGEMAKER_BATCH": "true"}
    spec = TransformSpec.from_api(
        req(
            MaxConcurrentTransforms=4,
            MaxPayloadInMB=2,
            BatchStrategy="SingleRecord",
            Environment={"A": "1"},
            ModelClientConfig={"InvocationsMaxRetries": 0},
        )
    )
    assert spec.retries == 0
    assert spec.container_env() == {
        "A": "1",
        "SAGEMAKER_BATCH": "true",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": "2",
        "SAGEMAKER_BATCH_STRATEGY": "SINGLE_RECORD",
        "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "4",
    }


# local data ----------------------------------------------------------------------------------------
def test_urls_are_not_local_paths_and_paths_must_be_absolute() -> None:
    with pytest.raises(ValidationException, match="is not a local path"):
        local_path("https://bucket.s3.amazonaws.com/key/", "S3Uri")
    with pytest.raises(ValidationException, match="absolute"):
        local_path("data/in", "S3Uri")
    assert local_path("file:///data/in/", "S3Uri") == Path("/data/in")
    assert local_path("file://localhost/data/x%20y", "S3Uri") == Path("/data/x y")
    assert local_path("/data/in", "S3Uri") == Path("/data/in")


def _tree(root: Path) -> None:
    for rel in ("a.csv", "sub/b.csv", "sub/deeper/c.csv", "part-1.txt", "part-2/d.txt"):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(rel)


def test_s3_prefix_is_recursive_and_keeps_relative_paths(tmp_path: Path) -> None:
    _tree(tmp_path)
    files = list_inputs(str(tmp_path), "S3Prefix")
    assert [f.relative for f in files] == [
        "a.csv",
        "part-1.txt",
        "part-2/d.txt",
        "sub/b.csv",
        "sub/deeper/c.csv",
    ]
    assert [f.relative for f in list_inputs(f"file://{tmp_path}/part-", "S3Prefix")] == ["part-1.txt", "part-2/d.txt"]
    assert [f.relative for f in list_inputs(str(tmp_path / "a.csv"), "S3Prefix")] == ["a.csv"]
    with pytest.raises(InputError, match="No S3 objects found"):
        list_inputs(str(tmp_path / "nothing-"), "S3Prefix")
    out = output_file(Path("/out"), files[-1])
    assert out == Path("/out/sub/deeper/c.csv.out")
    assert partial_file(out, "Job-1") == Path("/out/sub/deeper/.c.csv.out.job-1.partial")


def test_manifest(tmp_path: Path) -> None:
    _tree(tmp_path)
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps([{"prefix": f"file://{tmp_path}/"}, "sub/b.csv", "a.csv"]))
    assert [f.relative for f in list_inputs(str(manifest), "ManifestFile")] == ["sub/b.csv", "a.csv"]
    manifest.write_text(json.dumps([{"prefix": f"{tmp_path}/"}, "missing.csv"]))
    with pytest.raises(InputError, match="missing.csv"):
        list_inputs(str(manifest), "ManifestFile")
    manifest.write_text(json.dumps(["a.csv"]))
    with pytest.raises(InputError, match="must be a JSON array"):
        list_inputs(str(manifest), "ManifestFile")


def test_remove_partials_only_removes_that_jobs(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    mine = tmp_path / "sub" / ".a.csv.out.job-1.partial"
    other = tmp_path / ".a.csv.out.job-2.partial"
    final = tmp_path / "a.csv.out"
    for p in (mine, other, final):
        p.write_text("x")
    assert remove_partials(tmp_path, "JOB-1") == 1
    assert not mine.exists() and other.exists() and final.exists()


# the engine against fake containers ------------------------------------------------------------------
class FakeChain:
    """Two in-process 'containers': echo the body after a random delay, counting in-flight requests;
    a body containing FAIL:<n>:<code> makes container n answer that code; a body in ``delays`` takes
    that many seconds more in container 1."""

    def __init__(self, fail_first: int = 0, delays: dict[bytes, float] | None = None) -> None:
        self.delays = delays or {}
        self.inflight = 0
        self.peak = 0
        self.calls = 0
        self.fail_first = fail_first  # answer 503 this many times first
        self.runners: list[web.AppRunner] = []
        self.handles: list[ContainerHandle] = []

    async def start(self) -> None:
        for index in (1, 2):
            app = web.Application(client_max_size=200 * 1024 * 1024)
            app.router.add_post("/invocations", self._handler(index))
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            self.runners.append(runner)
            self.handles.append(ContainerHandle(index, f"container-{index}", f"c{index}", f"c{index}", 8080, port))

    def _handler(self, index: int) -> Any:
        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            self.calls += 1
            if index == 1:
                self.inflight += 1
                self.peak = max(self.peak, self.inflight)
            try:
                if self.fail_first > 0 and index == 2:
                    self.fail_first -= 1
                    return web.Response(status=503, text="busy")
                if f"FAIL:{index}:".encode() in body:
                    code = int(body.split(f"FAIL:{index}:".encode())[1][:3])
                    return web.Response(status=code, text=f"boom from {index}")
                await asyncio.sleep(random.uniform(0, 0.002) + (self.delays.get(body, 0.0) if index == 1 else 0.0))
                return web.Response(body=body, content_type=request.content_type)
            finally:
                if index == 1:
                    self.inflight -= 1

        return handle

    async def close(self) -> None:
        for runner in self.runners:
            await runner.cleanup()


def settings(**kw: Any) -> BatchSettings:
    base: dict[str, Any] = dict(
        split_type="Line",
        strategy="SingleRecord",
        max_payload_bytes=6 * 1024 * 1024,
        max_concurrent=4,
        content_type="text/csv",
        accept="text/csv",
        assemble_with="None",
        compression="None",
        timeout=10.0,
        retries=3,
    )
    base.update(kw)
    return BatchSettings(**base)


async def _run_file(tmp_path: Path, data: bytes, s: BatchSettings, chain: FakeChain, name: str = "in.csv") -> Path:
    src = tmp_path / name
    src.write_bytes(data)
    final = tmp_path / "out" / (name + ".out")
    session = new_session()
    try:
        ft = FileTransform(session, chain.handles, InputFile(src, name, len(data)), final, partial_file(final, "j"), s)
        await ft.run()
    finally:
        await session.close()
    return final


@pytest.mark.parametrize(("strategy", "mct"), [("SingleRecord", 1), ("SingleRecord", 8), ("MultiRecord", 4)])
def test_order_is_kept_and_concurrency_bounded(tmp_path: Path, strategy: str, mct: int) -> None:
    data = b"".join(b"%d,%s\n" % (i, b"x" * (i % 50)) for i in range(400))

    async def main() -> None:
        chain = FakeChain()
        await chain.start()
        try:
            s = settings(strategy=strategy, max_concurrent=mct, max_payload_bytes=512)
            final = await _run_file(tmp_path, data, s, chain)
            assert final.read_bytes() == data
            assert not list(final.parent.glob(".*.partial"))
            assert chain.peak <= mct
            if mct > 1:
                assert chain.peak > 1
        finally:
            await chain.close()

    asyncio.run(main())


def test_retryable_failures_are_retried_and_others_fail_the_file(tmp_path: Path) -> None:
    async def main() -> None:
        chain = FakeChain(fail_first=2)
        await chain.start()
        try:
            final = await _run_file(tmp_path, b"a\nb\n", settings(max_concurrent=1), chain)
            assert final.read_bytes() == b"a\nb\n"
            with pytest.raises(FileFailed) as err:
                await _run_file(tmp_path, b"a\nb\nc FAIL:2:500\nd\n", settings(), chain, "bad.csv")
            assert str(err.value).startswith("bad.csv: record 3: Received server error (500) from container-2 with")
            assert not (tmp_path / "out" / "bad.csv.out").exists()
            assert not list((tmp_path / "out").glob(".*"))
            chain.fail_first = 5  # more 503s than retries
            with pytest.raises(FileFailed, match=r"record 1: Received server error \(503\)"):
                await _run_file(tmp_path, b"a\n", settings(retries=1), chain, "busy.csv")
        finally:
            await chain.close()

    asyncio.run(main())


def test_gzip_and_record_too_large(tmp_path: Path) -> None:
    async def main() -> None:
        chain = FakeChain()
        await chain.start()
        try:
            data = b"".join(b"row %d\n" % i for i in range(500))
            final = await _run_file(tmp_path, gzip.compress(data), settings(compression="Gzip"), chain, "x.csv.gz")
            assert final.name == "x.csv.gz.out" and final.read_bytes() == data
            big = b"small\n" + b"y" * 2000 + b"\n"
            with pytest.raises(FileFailed, match="record 2: Record 2 is 2001 bytes, larger than the maximum payload"):
                await _run_file(tmp_path, big, settings(max_payload_bytes=1000), chain, "big.csv")
            with pytest.raises(FileFailed, match="not valid gzip"):
                await _run_file(tmp_path, b"not gzip", settings(compression="Gzip"), chain, "bad.gz")
        finally:
            await chain.close()

    asyncio.run(main())


def test_output_pieces_join_and_filter() -> None:
    dp = DataProcessing.from_api({"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"})
    s = settings(data_processing=dp, assemble_with="Line")
    work = Work(b"", 0, 2, [b"id1,1,2,3\n", b"id2,4,5,6\n"])
    assert output_pieces(work, b"0.5\n0.7\n", "text/csv", s) == [b"id1,0.5", b"\n", b"id2,0.7", b"\n"]
    plain = settings(assemble_with="Line")
    assert output_pieces(Work(b"", 0, 2, None), b"a\nb", "text/csv", plain) == [b"a\nb", b"\n"]


def test_retryable_classification() -> None:
    assert retryable(ContainerCallError("c", 0, "t", timeout=True))
    assert retryable(ContainerCallError("c", 500, "x", connection=True))
    assert retryable(ContainerCallError("c", 503, "x"))
    assert not retryable(ContainerCallError("c", 500, "x"))
    assert not retryable(ContainerCallError("c", 400, "x"))


# CLI parsing -----------------------------------------------------------------------------------------
def test_aws_cli_shorthand() -> None:
    assert load_value("InstanceType=ml.m5.large,InstanceCount=2", "x") == {
        "InstanceType": "ml.m5.large",
        "InstanceCount": 2,
    }
    assert load_value("DataSource={S3DataSource={S3DataType=S3Prefix,S3Uri=data/}},ContentType=text/csv", "x") == {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "data/"}},
        "ContentType": "text/csv",
    }
    assert load_value('{"A": 1}', "x") == {"A": 1}


def test_cli_makes_local_paths_absolute(tmp_path: Path) -> None:
    assert absolute_path("data/", tmp_path) == f"{tmp_path}/data/"
    assert absolute_path("file://data", tmp_path) == f"file://{tmp_path}/data"
    assert absolute_path("s3://b/k", tmp_path) == "s3://b/k"
    assert absolute_path("/abs", tmp_path) == "/abs"


def test_one_file_keeps_two_instances_busy_in_order(tmp_path: Path) -> None:
    """A job's instances share its files' mini-batches: one file on two instances uses both, with
    MaxConcurrentTransforms bounding each instance, and the output stays in input order."""
    data = b"".join(b"%d,%s\n" % (i, b"y" * (i % 30)) for i in range(600))

    async def main() -> None:
        chains = [FakeChain(), FakeChain()]
        for chain in chains:
            await chain.start()
        try:
            s = settings(strategy="MultiRecord", max_concurrent=2, max_payload_bytes=256)
            pool = ChainPool([c.handles for c in chains], s.max_concurrent)
            src = tmp_path / "in.csv"
            src.write_bytes(data)
            final = tmp_path / "out" / "in.csv.out"
            session = new_session()
            try:
                file = InputFile(src, "in.csv", len(data))
                ft = FileTransform(session, pool, file, final, partial_file(final, "j"), s)
                await ft.run()
            finally:
                await session.close()
            assert final.read_bytes() == data
            assert all(c.calls > 0 for c in chains), [c.calls for c in chains]
            assert all(c.peak <= 2 for c in chains)
        finally:
            for chain in chains:
                await chain.close()

    asyncio.run(main())


def test_files_sharing_a_pool_hold_at_most_two_mini_batches_per_slot(tmp_path: Path) -> None:
    """Several files at once on a shared pool: together they never hold more than 2 mini-batches
    per slot started and not yet written, no more than one per instance waits for a slot, and every file still
    completes in order (no file waits on room only its own writes would free)."""
    datas = [b"".join(b"f%d-%d\n" % (f, i) for i in range(300)) for f in range(3)]

    async def main() -> None:
        chain = FakeChain()
        await chain.start()
        try:
            s = settings(strategy="SingleRecord", max_concurrent=2)
            pool = ChainPool([chain.handles], s.max_concurrent)
            peak_held = peak_pending = 0
            started = pool.started

            def counting_started(task: asyncio.Task[object]) -> None:
                nonlocal peak_held, peak_pending
                started(task)
                peak_held, peak_pending = max(peak_held, pool.held), max(peak_pending, pool.pending)

            pool.started = counting_started  # type: ignore[method-assign]
            session = new_session()
            try:
                runs = []
                for n, data in enumerate(datas):
                    src = tmp_path / f"in{n}.csv"
                    src.write_bytes(data)
                    final = tmp_path / "out" / f"in{n}.csv.out"
                    file = InputFile(src, src.name, len(data))
                    runs.append(FileTransform(session, pool, file, final, partial_file(final, "j"), s).run())
                await asyncio.gather(*runs)
            finally:
                await session.close()
            for n, data in enumerate(datas):
                assert (tmp_path / "out" / f"in{n}.csv.out").read_bytes() == data
            assert 1 < peak_held <= 2 * pool.size
            assert peak_pending == pool.size + 1  # every slot busy, and one mini-batch waiting for a slot
            assert pool.held == 0 and pool.pending == 0  # everything was given back
            assert chain.peak <= pool.size
        finally:
            await chain.close()

    asyncio.run(main())


def test_a_slow_head_of_line_leaves_room_for_later_responses(tmp_path: Path) -> None:
    """One slow mini-batch at the head: the others go on through the free slots and wait, finished,
    to be written behind it (up to 2 per slot), and the output is still in input order."""
    data = b"".join(b"%d\n" % i for i in range(40))

    async def main() -> None:
        chain = FakeChain(delays={b"0\n": 0.3})
        await chain.start()
        try:
            s = settings(strategy="SingleRecord", max_concurrent=2)
            pool = ChainPool([chain.handles], s.max_concurrent)
            peak_held = 0
            started = pool.started

            def counting_started(task: asyncio.Task[object]) -> None:
                nonlocal peak_held
                started(task)
                peak_held = max(peak_held, pool.held)

            pool.started = counting_started  # type: ignore[method-assign]
            src = tmp_path / "in.csv"
            src.write_bytes(data)
            final = tmp_path / "out" / "in.csv.out"
            session = new_session()
            try:
                file = InputFile(src, src.name, len(data))
                await FileTransform(session, pool, file, final, partial_file(final, "j"), s).run()
            finally:
                await session.close()
            assert final.read_bytes() == data
            assert peak_held == 2 * pool.size  # the later responses filled the window behind the head
            assert pool.held == 0 and pool.pending == 0
        finally:
            await chain.close()

    asyncio.run(main())
