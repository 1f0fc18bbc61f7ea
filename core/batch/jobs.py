"""Batch transform jobs: the API operations and the execution of each job.
Design notes: docs/batch-transform.md."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from inferpipe.core.arns import arn
from inferpipe.core.batch import s3data
from inferpipe.core.batch.inputs import (
    InputError,
    InputFile,
    allowed,
    check_input_exists,
    job_path,
    list_inputs,
    output_file,
    output_root,
    partial_file,
    remove_partials,
)
from inferpipe.core.batch.minibatch import BatchSettings, FileFailed, FileTransform
from inferpipe.core.batch.pool import ChainPool
from inferpipe.core.batch.records import MULTI_RECORD, SINGLE_RECORD, payload_limit_bytes
from inferpipe.core.batch.spec import (
    DEFAULT_BATCH_STRATEGY,
    DEFAULT_MAX_CONCURRENT,
    DEFAULT_MAX_PAYLOAD_MB,
    KIND,
    MAX_CONCURRENCY_X_PAYLOAD,
    MAX_PAYLOAD_MB,
    TransformSpec,
    describe,
)
from inferpipe.core.batch.state import RUNNING, TERMINAL, TransformJobState, TransformJobStatus
from inferpipe.core.capture.manifest import Location, write_batch_capture
from inferpipe.core.capture.s3sink import S3Sink
from inferpipe.core.capture.sink import CaptureSink, FileSink
from inferpipe.core.config import Settings
from inferpipe.core.containers.chain import new_session
from inferpipe.core.containers.fleet import Fleet, FleetLauncher, FleetStartError, Instance
from inferpipe.core.containers.hostpaths import HostPathPolicy
from inferpipe.core.containers.runtime import Runtime, RuntimeProblem
from inferpipe.core.errors import ResourceInUse, ValidationException
from inferpipe.core.failure_reason import failure_reason
from inferpipe.core.limits import InstanceBudget
from inferpipe.core.memory import trim_heap
from inferpipe.core.retry import retry
from inferpipe.core.s3.client import s3_objects
from inferpipe.core.s3.errors import S3Error
from inferpipe.core.s3.objects import S3Objects
from inferpipe.core.s3.uri import S3Uri, is_s3_uri
from inferpipe.core.spec import ModelSpec, VariantSpec
from inferpipe.core.store import AlreadyExists, Record, Store

log = logging.getLogger("inferpipe.transform")

VARIANT = "transform"
PROGRESS_INTERVAL = 2.0
EXECUTION_PARAMETERS_TIMEOUT = 2.0
STOP_TIMEOUT = 5  # at most this many seconds between SIGTERM and SIGKILL when a job's containers go
SHUTDOWN_GRACE = 15.0
LEFTOVER_SCANS = 5
LEFTOVER_SCAN_DELAY = 0.2  # seconds between two scans
MAX_CONCURRENT = 100


@dataclass
class Progress:
    files_total: int = 0
    files_completed: int = 0
    files_failed: int = 0
    records: int = 0  # records of finished files, plus those written so far of files in progress
    bytes_total: int = 0
    bytes_done: int = 0  # input bytes of finished files
    bytes_written: int = 0
    started: float | None = None  # wall clock, when the fleet was ready
    finished: float | None = None
    active: dict[str, FileTransform] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        live_records = sum(f.records_done for f in self.active.values())
        live_done = sum(f.bytes_done for f in self.active.values())
        live_written = sum(f.writer.written for f in self.active.values())
        records = self.records + live_records
        end = self.finished or time.time()
        elapsed = max(0.0, end - self.started) if self.started else 0.0
        return {
            "FilesTotal": self.files_total,
            "FilesCompleted": self.files_completed,
            "FilesFailed": self.files_failed,
            "FilesInProgress": sorted(self.active),
            "RecordsProcessed": records,
            "BytesProcessed": self.bytes_done + live_done,
            "BytesTotal": self.bytes_total,
            "BytesWritten": self.bytes_written + live_written,
            "ElapsedSeconds": round(elapsed, 3),
            "RecordsPerSecond": round(records / elapsed, 1) if elapsed > 0 else 0.0,
        }


@dataclass
class Job:
    spec: TransformSpec
    model: ModelSpec
    state: TransformJobState
    progress: Progress = field(default_factory=Progress)
    task: asyncio.Task[None] | None = None
    fleet: Fleet | None = None
    stop_requested: bool = False
    failures: list[str] = field(default_factory=list)
    output_root: Path | None = None  # S3OutputPath, resolved and checked when the job starts
    # (input, output) of each file done: a local path, or the object's URI when it is on S3
    completed: list[tuple[Location, Location]] = field(default_factory=list)
    output_s3: S3Uri | None = None  # or S3OutputPath on S3, checked writable when the job starts


class TransformManager:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        runtime: Runtime,
        launcher: FleetLauncher,
        host_paths: HostPathPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.runtime = runtime
        self.launcher = launcher
        self.instances = InstanceBudget(settings, store)
        self.host_paths = host_paths or HostPathPolicy.from_settings(settings)
        self.jobs: dict[str, Job] = {}  # running jobs, by lowercased name
        self._objects: S3Objects | None = None

    # control plane --------------------------------------------------------------------------------
    async def create(
        self, spec: TransformSpec, record: dict[str, Any], tags: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """Starts a validated job. ``record`` is what the job's record keeps for Describe to echo (the
        request as given, without its tags, which are kept per ARN)."""
        job_arn = arn(self.settings, KIND, spec.name)
        # S3 locations are checked when the job runs (a network call; AWS fails the job there too)
        if is_s3_uri(spec.output_path):
            s3data.parse(spec.output_path, "TransformOutput.S3OutputPath")
        else:
            allowed(spec.output_path, "TransformOutput.S3OutputPath", self.host_paths)
        if is_s3_uri(spec.uri):
            s3data.parse(spec.uri, "TransformInput.DataSource.S3DataSource.S3Uri")
        else:
            check_input_exists(spec.uri, spec.data_type, self.host_paths)
        if spec.capture_destination is not None and is_s3_uri(spec.capture_destination):
            s3data.parse(spec.capture_destination, "DataCaptureConfig.DestinationS3Uri")
        elif spec.capture_destination is not None:
            allowed(spec.capture_destination, "DataCaptureConfig.DestinationS3Uri", self.host_paths)
        model = self.store.get("model", spec.model_name)
        if model is None:
            raise ValidationException(f'Could not find model "{arn(self.settings, "model", spec.model_name)}".')
        self.instances.check_total(spec.instance_count, f" for transform job {spec.name}")
        now = round(time.time(), 3)
        state = TransformJobState(model=model.spec, start_time=now)
        try:
            self.store.insert(
                KIND, spec.name, job_arn, record, status=TransformJobStatus.IN_PROGRESS, state=state.to_json(), now=now
            )
        except AlreadyExists:
            raise ResourceInUse(
                "Transform job names must be unique within an AWS account and region, and a transform job with this"
                f" name already exists ({job_arn})."
            ) from None
        if tags:
            self.store.set_tags(job_arn, tags)
        job = Job(spec, ModelSpec.from_api(model.spec), state)
        self.jobs[spec.name.lower()] = job
        job.task = asyncio.get_running_loop().create_task(self._run(job))
        return {"TransformJobArn": job_arn}

    def _record(self, name: str) -> Record:
        rec = self.store.get(KIND, name)
        if rec is None:
            raise ValidationException(f'Could not find transform job "{arn(self.settings, KIND, name)}".')
        return rec

    async def describe(self, name: str) -> dict[str, Any]:
        rec = self._record(name)
        job = self.jobs.get(rec.name.lower())
        progress = job.progress.to_api() if job else TransformJobState.from_json(rec.state).progress
        out = describe(rec, progress)
        if job and job.fleet:
            out["InferpipeInstances"] = [
                {
                    "InstanceId": i.instance_id,
                    "Containers": [
                        {"ContainerHostname": c.hostname, "ContainerName": c.name, "HostPort": c.host_port}
                        for c in i.handle.containers
                    ],
                }
                for i in job.fleet.instances
            ]
        return out

    async def stop(self, name: str) -> dict[str, Any]:
        rec = self._record(name)
        if rec.status == TransformJobStatus.STOPPING:
            return {}
        job = self.jobs.get(rec.name.lower())
        if rec.status in TERMINAL or job is None:
            raise ValidationException(
                f'Transform job "{rec.arn}" is in status {rec.status} and cannot be stopped: only InProgress jobs can.'
            )
        job.stop_requested = True
        self.store.update(KIND, rec.name, status=TransformJobStatus.STOPPING)
        if job.task is not None:
            job.task.cancel()
        return {}

    # lifecycle ------------------------------------------------------------------------------------
    async def adopt(self) -> None:
        """At daemon start no job of ours runs, so an InProgress job was cut short by a crash or a kill:
        remove its containers and partial outputs, then fail it with a reason (a Stopping one becomes
        Stopped). Containers go first, so a client that sees the final status sees them gone."""
        records = self.store.all(KIND)
        interrupted = [r for r in records if r.status in RUNNING and r.name.lower() not in self.jobs]
        await self._remove_leftovers(None)
        for rec in interrupted:
            status = (
                TransformJobStatus.STOPPED if rec.status == TransformJobStatus.STOPPING else TransformJobStatus.FAILED
            )
            reason = None
            if status == TransformJobStatus.FAILED:
                reason = failure_reason(
                    "The inferpipe daemon stopped while this job was running (it was not"
                    " shut down gracefully); jobs are not resumed. Its containers and partial outputs were removed;"
                    " outputs of files that had completed were kept. Create a new job to run it again.",
                    prefix="InternalServerError",
                )
            await asyncio.to_thread(self._remove_partials, rec.spec)
            state = TransformJobState.from_json(rec.state)
            state.end_time = round(time.time(), 3)
            self.store.update(KIND, rec.name, status=status, failure_reason=reason, state=state.to_json())
            log.warning("transform job %s was %s at start-up: now %s", rec.name, rec.status, status)

    async def shutdown(self) -> None:
        """Daemon stop: running jobs fail (they are not resumed), their containers are removed."""
        running = [j for j in self.jobs.values() if j.task is not None and not j.task.done()]
        for job in running:
            job.task.cancel()  # type: ignore[union-attr]
        if running:
            await asyncio.wait([j.task for j in running if j.task], timeout=SHUTDOWN_GRACE)

    def _remove_partials(self, spec: dict[str, Any]) -> None:
        try:
            out = allowed(spec["TransformOutput"]["S3OutputPath"], "S3OutputPath", self.host_paths)
        except (KeyError, ValidationException):
            return  # never touch a path the policy refuses
        remove_partials(out, spec["TransformJobName"])

    # execution ------------------------------------------------------------------------------------
    def _save(self, job: Job, **fields: Any) -> None:
        job.state.progress = job.progress.to_api()
        self.store.update(KIND, job.spec.name, state=job.state.to_json(), **fields)

    async def _report(self, job: Job) -> None:
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL)
            self._save(job)

    async def _run(self, job: Job) -> None:
        spec = job.spec
        fleet: Fleet | None = None
        reporter = asyncio.get_running_loop().create_task(self._report(job))
        status: TransformJobStatus = TransformJobStatus.COMPLETED
        reason: str | None = None
        try:
            files = await asyncio.to_thread(self._prepare_data, job)
            job.progress.files_total = len(files)
            job.progress.bytes_total = sum(f.size for f in files)
            variant = VariantSpec(VARIANT, job.model, spec.instance_count, 1.0, spec.instance_type)
            try:
                fleet = await self.launcher.prepare(KIND, spec.name, variant, 1, extra_env=spec.container_env())
            except FleetStartError as exc:  # images or model data: the caller's to fix
                raise JobFailed("ClientError", _fleet_text(exc)) from exc
            job.fleet = fleet
            try:
                await self._launch(fleet)
            except FleetStartError as exc:  # containers that exit or fail their pings
                raise JobFailed("AlgorithmError", _fleet_text(exc)) from exc
            job.progress.started = time.time()
            queue = deque(files)
            session = new_session()
            loop = asyncio.get_running_loop()
            workers: list[asyncio.Task[None]] = []
            try:
                settings = await self._settings(job, fleet.instances[0], session)
                pool = ChainPool([i.handle.containers for i in fleet.instances], settings.max_concurrent)
                # one file per instance at a time, but each file's mini-batches go to any instance's free slot
                workers = [loop.create_task(self._worker(job, pool, settings, queue, session)) for _ in fleet.instances]
                await asyncio.gather(*workers)
            finally:  # on a stop or an unexpected error no worker may outlive the job
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                job.progress.finished = time.time()
                await session.close()
            if spec.capture_destination is not None:
                await self._capture(job)
            if job.failures:
                status = TransformJobStatus.FAILED
                more = f" ({len(job.failures) - 1} more file(s) failed.)" if len(job.failures) > 1 else ""
                reason = f"ClientError: {job.failures[0]} No output was written for that file.{more}"
        except asyncio.CancelledError:
            if job.stop_requested:
                status = TransformJobStatus.STOPPED
            else:
                status = TransformJobStatus.FAILED
                reason = (
                    "InternalServerError: The inferpipe daemon was stopped while this job was running; jobs are not"
                    " resumed. Create a new job to run it again."
                )
        except JobFailed as exc:
            status, reason = TransformJobStatus.FAILED, str(exc)
        except InputError as exc:
            status, reason = TransformJobStatus.FAILED, str(exc)
        except RuntimeProblem as exc:
            status, reason = TransformJobStatus.FAILED, f"InternalServerError: {exc}"
        except Exception as exc:  # noqa: BLE001 - a job must always end with a status
            log.exception("transform job %s failed", spec.name)
            status, reason = TransformJobStatus.FAILED, f"InternalServerError: {exc!r}"
        finally:
            reporter.cancel()
            job.fleet = None
            try:
                await self._cleanup(job, fleet)
            except Exception:  # noqa: BLE001 - the job must still get its final status
                log.exception("transform job %s: cleanup failed", spec.name)
            job.progress.finished = job.progress.finished or time.time()
            # when the last output was complete, not when the teardown above ended: the status waits
            # for the teardown (no containers are left once it says Completed), the end time need not
            job.state.end_time = round(job.progress.finished, 3)
            reason = failure_reason(reason) if reason else None  # the one cut every ending gets
            self._save(job, status=status, failure_reason=reason)
            self.jobs.pop(spec.name.lower(), None)
            trim_heap()  # the job's buffers are gone; a daemon that stays up should not keep their pages
            log.info("transform job %s %s%s", spec.name, status, f": {reason}" if reason else "")

    async def _capture(self, job: Job) -> None:
        """The job's data capture: manifests of the files it transformed (see core/capture/manifest.py)."""
        uri = job.spec.capture_destination
        assert uri is not None
        member = "DataCaptureConfig.DestinationS3Uri"
        sink: CaptureSink
        if is_s3_uri(uri):
            sink = S3Sink(await asyncio.to_thread(self.s3), s3data.parse(uri, member))
        else:
            sink = FileSink(job_path(uri, member, self.host_paths))
        done = sorted(job.completed, key=lambda pair: str(pair[0]))
        try:
            await asyncio.to_thread(
                write_batch_capture, sink, job.state.start_time, [i for i, _ in done], [o for _, o in done]
            )
        except S3Error as exc:
            raise JobFailed("ClientError", f"Could not write the data capture: {exc.reason}") from exc
        except OSError as exc:
            raise JobFailed("ClientError", f"Could not write the data capture to {uri}: {exc}.") from exc

    def s3(self) -> S3Objects:
        """The S3 client, built on first use from the settings and the standard AWS configuration."""
        if self._objects is None:
            try:
                self._objects = s3_objects(self.settings)
            except Exception as exc:  # noqa: BLE001 - a bad profile or configuration, in botocore's words
                raise InputError(f"ClientError: S3 cannot be used: {exc}") from exc
        return self._objects

    def _prepare_data(self, job: Job) -> list[InputFile]:
        """In a worker thread, before any container starts: check the output can be written, then list
        the inputs. Either failure fails the job with a reason and nothing to clean up."""
        spec = job.spec
        if is_s3_uri(spec.output_path):
            job.output_s3 = s3data.parse(spec.output_path, "S3OutputPath")
            s3data.check_writable(self.s3(), job.output_s3, spec.name)
        else:
            job.output_root = output_root(spec.output_path, self.host_paths)
        if is_s3_uri(spec.uri):
            return s3data.list_inputs(self.s3(), spec.uri, spec.data_type, self.settings.max_manifest_bytes)
        return list_inputs(spec.uri, spec.data_type, self.host_paths)

    async def _launch(self, fleet: Fleet) -> None:
        """Start the fleet. A stop during start-up lets the start finish (or fail) first: a container
        being created in a worker thread cannot be interrupted, and must not be left behind."""
        launch = asyncio.get_running_loop().create_task(self.launcher.launch(fleet))
        try:
            await asyncio.shield(launch)
        except asyncio.CancelledError:
            with contextlib.suppress(FleetStartError):
                await launch
            raise

    async def _cleanup(self, job: Job, fleet: Fleet | None) -> None:
        """Remove the fleet, anything else labelled with this job, and partial outputs. Shielded from a
        second cancellation so a stopped job never leaves containers behind."""

        async def clean() -> None:
            name = job.spec.name
            if fleet is not None:
                try:
                    # every worker has ended, so no request is in flight: the holders may go at once
                    await self.launcher.stop(fleet, min(STOP_TIMEOUT, self.launcher.stop_grace), idle=True)
                except Exception:  # noqa: BLE001 - carry on: the label scan below catches what is left
                    log.exception("transform job %s: stopping its instances failed", name)
            await self._remove_leftovers(name)
            try:
                if job.output_root is not None:
                    await asyncio.to_thread(remove_partials, job.output_root, name)
            except OSError as exc:
                log.warning("transform job %s: cannot remove partial outputs: %s", name, exc)
            self.launcher.collect_model_data()

        task = asyncio.get_running_loop().create_task(clean())
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            await task

    async def _remove_leftovers(self, name: str | None) -> None:
        """Remove every container labelled with this job (or, None, with any transform job not running
        now), found by a label scan. The scan is retried: it races other owners removing their
        containers (Docker lists a container, then it is gone before it is inspected)."""

        async def scan(_n: int) -> None:
            handles = await asyncio.to_thread(self.runtime.managed)
            mine = [
                h
                for h in handles
                if h.owner_kind == KIND and (h.owner == name if name else h.owner.lower() not in self.jobs)
            ]
            if mine:
                log.info("removing %d leftover instance(s) of transform job(s) %s", len(mine), name or "*")
            await self.launcher.stop_handles(mine, 0)

        try:
            await retry(
                scan,
                attempts=LEFTOVER_SCANS,
                # docker.errors.NotFound and the like: scan again; an engine that is down will stay so
                retry_on=lambda exc: not isinstance(exc, RuntimeProblem),
                delay=LEFTOVER_SCAN_DELAY,
                on_retry=lambda n, exc: log.info(
                    "transform job %s: container scan %d failed (%s), retrying", name, n + 1, exc
                ),
            )
        except RuntimeProblem as exc:
            log.warning("transform job %s: cannot list its containers: %s", name, exc)
        except Exception as exc:  # noqa: BLE001 - the caller's clean-up goes on without it
            log.error("transform job %s: could not scan for leftover containers (%s)", name, exc)

    async def _settings(self, job: Job, instance: Instance, session: aiohttp.ClientSession) -> BatchSettings:
        """The call's values, then the first container's /execution-parameters, then the defaults."""
        spec = job.spec
        params = await self._execution_parameters(instance, session)
        mct = spec.max_concurrent or _int(params.get("MaxConcurrentTransforms"), 1, 100) or DEFAULT_MAX_CONCURRENT
        payload_mb = spec.max_payload_mb
        if payload_mb is None:
            payload_mb = _int(params.get("MaxPayloadInMB"), 0, MAX_PAYLOAD_MB)
            if payload_mb is None:
                payload_mb = DEFAULT_MAX_PAYLOAD_MB
        strategy = spec.batch_strategy or _strategy(params.get("BatchStrategy")) or DEFAULT_BATCH_STRATEGY
        mct = min(mct, MAX_CONCURRENT)  # the documented range; also bounds memory when MaxPayloadInMB is 0
        if payload_mb and mct * payload_mb > MAX_CONCURRENCY_X_PAYLOAD:
            mct = max(1, MAX_CONCURRENCY_X_PAYLOAD // payload_mb)
        if job.state.effective is None:
            job.state.effective = {
                "MaxConcurrentTransforms": mct,
                "MaxPayloadInMB": payload_mb,
                "BatchStrategy": strategy,
                "ExecutionParameters": params or None,
            }
        return BatchSettings(
            split_type=spec.split_type,
            strategy=strategy,
            max_payload_bytes=payload_limit_bytes(payload_mb),
            max_concurrent=mct,
            content_type=spec.content_type,
            accept=spec.accept,
            assemble_with=spec.assemble_with,
            compression=spec.compression,
            timeout=float(spec.timeout),
            retries=spec.retries,
            data_processing=spec.data_processing,
        )

    @staticmethod
    async def _execution_parameters(instance: Instance, session: aiohttp.ClientSession) -> dict[str, Any]:
        url = f"{instance.handle.containers[0].url}/execution-parameters"
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=EXECUTION_PARAMETERS_TIMEOUT)) as resp:
                if resp.status != 200:
                    return {}
                doc = json.loads(await resp.read())
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
            return {}
        return doc if isinstance(doc, dict) else {}

    async def _worker(
        self,
        job: Job,
        pool: ChainPool,
        settings: BatchSettings,
        queue: deque[InputFile],
        session: aiohttp.ClientSession,
    ) -> None:
        output_dir = job.output_root
        assert output_dir is not None or job.output_s3 is not None  # set before the fleet started
        objects = self._objects  # set if the input or the output is on S3
        while queue:
            file = queue.popleft()
            writer = None
            if job.output_s3 is not None:
                assert objects is not None
                writer = s3data.S3OutputWriter(objects, s3data.output_uri(job.output_s3, file.relative))
                final = Path(str(writer.uri))
            else:
                assert output_dir is not None
                final = output_file(output_dir, file)
            ft = FileTransform(
                session,
                pool,
                file,
                final,
                partial_file(final, job.spec.name),
                settings,
                objects=objects,
                writer=writer,
            )
            progress = job.progress
            progress.active[file.relative] = ft
            done = False
            try:
                await ft.run()
                done = True
                progress.files_completed += 1
                job.completed.append((file.s3 or file.path, writer.uri if writer is not None else final))
            except FileFailed as exc:
                progress.files_failed += 1
                job.failures.append(str(exc))
                self.store.record_event(KIND, job.spec.name, "FileFailed", {"file": file.relative, "reason": str(exc)})
            except Exception as exc:  # noqa: BLE001 - one broken file must not hide the others' results
                log.exception("transform job %s: file %s", job.spec.name, file.relative)
                progress.files_failed += 1
                job.failures.append(f"{file.relative}: internal error: {exc!r}.")
            finally:
                progress.active.pop(file.relative, None)
                progress.bytes_done += file.size
                if done:
                    progress.records += ft.records_done
                    progress.bytes_written += ft.writer.written


class JobFailed(Exception):
    def __init__(self, kind: str, text: str) -> None:
        super().__init__(f"{kind}: {text}")  # cut to the FailureReason limit where the job ends


def _fleet_text(exc: FleetStartError) -> str:
    """The fleet speaks of production variants; here the "variant" is the job's instances."""
    text = str(exc).replace(f"Production variant {VARIANT} ", "The transform job's instances ")
    return text.replace(f"production variant {VARIANT}", "the transform job")


def _int(value: Any, lo: int, hi: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        return None
    return value


def _strategy(value: Any) -> str | None:
    """/execution-parameters spells it MULTI_RECORD; accept the API's MultiRecord too."""
    key = str(value or "").upper().replace("_", "")
    return {"MULTIRECORD": MULTI_RECORD, "SINGLERECORD": SINGLE_RECORD}.get(key)
