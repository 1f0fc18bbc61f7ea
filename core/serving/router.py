"""The data plane: pick a variant, a fleet, an instance; send the body through the chain.
Design notes: docs/serving.md."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from inferpipe.core.config import Settings
from inferpipe.core.containers.chain import ContainerCallError, FirstContainerUnreachable, new_session, run_chain
from inferpipe.core.containers.fleet import Fleet, Instance
from inferpipe.core.errors import ModelError, ServiceUnavailable, ValidationError
from inferpipe.core.retry import retry
from inferpipe.core.serving import trace_context
from inferpipe.core.serving.capture import CaptureFactory, EndpointCapture
from inferpipe.core.serving.hops import HopRecorder
from inferpipe.core.serving.invocation_log import InvocationLog
from inferpipe.core.serving.metrics import Metrics
from inferpipe.core.serving.state import EndpointStatus
from inferpipe.core.serving.step_trace import StepTrace, TraceBook
from inferpipe.core.serving.telemetry import Telemetry

MAX_REQUEST_BYTES = 6 * 1024 * 1024
DEFAULT_CONTAINER_TIMEOUT = 60.0
READY_WAIT = 30.0


@dataclass(frozen=True)
class Invocation:
    endpoint: str
    body: bytes
    content_type: str | None = None
    accept: str | None = None
    custom_attributes: str | None = None
    target_variant: str | None = None
    target_container: str | None = None
    inference_id: str | None = None
    traceparent: str | None = None  # the caller's W3C trace context, if it sent one
    trace_key: str | None = None  # keep a step trace of this request under this id (its request id)


@dataclass(frozen=True)
class InvocationResult:
    body: bytes
    content_type: str | None
    variant: str
    custom_attributes: str | None


@dataclass
class VariantRoute:
    name: str
    weight: float
    # The fleet serving this variant. Blue/green shifts traffic between whole routes
    # (EndpointRoute.green), so a variant never splits its own traffic.
    fleet: Fleet | None = None


@dataclass
class EndpointRoute:
    name: str
    mode: str  # Serial | Direct
    variants: list[VariantRoute]
    # During a blue/green deployment: the green fleets' own route, and the share of requests it gets.
    green: EndpointRoute | None = None
    green_share: float = 0.0
    # The DataCaptureConfig of the endpoint config these fleets were started for (None: no capture).
    capture: EndpointCapture | None = None

    def choose(self, target_variant: str | None) -> EndpointRoute:
        """Blue or green for one request, fixed for the whole chain."""
        green = self.green
        if green is None or self.green_share <= 0:
            return self
        if target_variant is not None:
            names_blue = {v.name for v in self.variants}
            names_green = {v.name for v in green.variants}
            if target_variant in names_green and target_variant not in names_blue:
                return green
            if target_variant in names_blue and target_variant not in names_green:
                return self
        return green if random.random() < self.green_share else self

    def pick_variant(self, target: str | None, settings: Settings) -> VariantRoute:
        if target is not None:
            for v in self.variants:
                if v.name == target:
                    return v
            raise ValidationError(
                f"Endpoint {self.name} of account {settings.account} does not have a production variant named {target}."
            )
        weighted = [v for v in self.variants if v.weight > 0]
        if not weighted:
            raise ValidationError(
                f"Endpoint {self.name} has no production variant with a weight above 0: set a weight or pass"
                " TargetVariant."
            )
        if len(weighted) == 1:
            return weighted[0]
        return random.choices(weighted, weights=[v.weight for v in weighted])[0]


class Router:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        status_of: Callable[[str], str | None],
        on_instance_trouble: Callable[[Fleet, Instance], None],
        container_timeout: float = DEFAULT_CONTAINER_TIMEOUT,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.status_of = status_of
        self.on_instance_trouble = on_instance_trouble
        self.container_timeout = container_timeout
        self.routes: dict[str, EndpointRoute] = {}
        self._session: aiohttp.ClientSession | None = None
        self.telemetry = Telemetry.from_env()
        self.traces = TraceBook(settings.trace_keep)
        self.invocation_log = InvocationLog()
        # Set once a restarted daemon has re-adopted its containers: requests that arrive earlier
        # wait for it instead of being refused for an endpoint that is about to serve again.
        self.ready = asyncio.Event()
        self.capture: CaptureFactory | None = None  # set by the engine's wiring

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = new_session()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self.capture is not None:
            await asyncio.to_thread(self.capture.writer.close)
        if self.telemetry is not None:
            await asyncio.to_thread(self.telemetry.shutdown)

    def install(self, route: EndpointRoute) -> None:
        routes = dict(self.routes)
        routes[route.name] = route
        self.routes = routes

    def remove(self, name: str) -> None:
        routes = dict(self.routes)
        routes.pop(name, None)
        self.routes = routes

    def _not_found(self, name: str) -> ValidationError | ServiceUnavailable:
        status = self.status_of(name)
        if status is None:
            return ValidationError(f"Endpoint {name} of account {self.settings.account} not found.")
        if status == EndpointStatus.IN_SERVICE:
            return ServiceUnavailable(
                f"Endpoint {name} is InService but none of its instances is serving right now (see inferpipe"
                " daemon logs). Try your call again."
            )
        return ValidationError(
            f"Endpoint {name} of account {self.settings.account} is not in service: its status is {status}."
        )

    async def invoke(self, inv: Invocation) -> InvocationResult:
        if len(inv.body) > MAX_REQUEST_BYTES:
            raise ValidationError(
                f"Request payload is {len(inv.body)} bytes, more than the maximum of {MAX_REQUEST_BYTES} bytes"
                " (6 MB) for InvokeEndpoint."
            )
        if not self.ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ready.wait(), READY_WAIT)
        route = self.routes.get(inv.endpoint)
        if route is None:
            raise self._not_found(inv.endpoint)
        route = route.choose(inv.target_variant)
        if route.mode == "Direct" and not inv.target_container:
            raise ValidationError(
                f"Endpoint {inv.endpoint} uses Direct invocation: pass TargetContainerHostname"
                " (X-Amzn-SageMaker-Target-Container-Hostname)."
            )
        if route.mode != "Direct" and inv.target_container:
            raise ValidationError(
                f"TargetContainerHostname is only valid for an endpoint in Direct invocation mode; {inv.endpoint}"
                " runs its containers as a Serial pipeline."
            )
        variant = route.pick_variant(inv.target_variant, self.settings)

        # An instance that refuses the connection before container 1 saw the request is taken out
        # of rotation and the request goes to another one: nothing was processed, so it is safe.
        async def on_some_instance(_n: int) -> InvocationResult:
            fleet = variant.fleet
            instance = fleet.pick() if fleet else None
            if fleet is None or instance is None:
                raise ServiceUnavailable(
                    f"No healthy instance of production variant {variant.name} of endpoint {inv.endpoint} is"
                    " available right now; it is being replaced. Try your call again."
                )
            try:
                return await self._run_chain(inv, route, variant.name, fleet, instance)
            except FirstContainerUnreachable:
                instance.healthy = False
                self.on_instance_trouble(fleet, instance)
                raise

        try:
            return await retry(
                on_some_instance, attempts=4, retry_on=lambda exc: isinstance(exc, FirstContainerUnreachable)
            )
        except FirstContainerUnreachable:
            raise ServiceUnavailable(
                f"No instance of endpoint {inv.endpoint} accepted the request. Try your call again."
            ) from None

    async def _run_chain(
        self, inv: Invocation, route: EndpointRoute, variant: str, fleet: Fleet, instance: Instance
    ) -> InvocationResult:
        containers = instance.handle.containers
        if route.mode == "Direct":
            containers = [c for c in containers if c.hostname == inv.target_container]
            if not containers:
                raise ValidationError(
                    f"Container hostname {inv.target_container} does not exist in endpoint {inv.endpoint}; it has"
                    f" {', '.join(c.hostname for c in instance.handle.containers)}."
                )
        started = time.perf_counter()
        hops = self._hops(inv, route, variant, fleet, instance)
        instance.inflight += 1
        status, model_error, timings = 200, False, []
        answered = 200  # what the caller gets, for the invocation's span
        try:
            result = await run_chain(
                self.session(),
                containers,
                inv.body,
                content_type=inv.content_type,
                accept=inv.accept,
                custom_attributes=inv.custom_attributes,
                inference_id=inv.inference_id,
                timeout=self.container_timeout,
                observer=hops,
            )
            timings = result.timings
        except FirstContainerUnreachable as exc:
            answered = ServiceUnavailable.status
            hops.failed(containers[0].hostname, str(exc))
            raise
        except ContainerCallError as exc:
            if exc.connection:  # out of rotation now; the health check decides whether to replace it
                instance.healthy = False
                self.on_instance_trouble(fleet, instance)
            # CloudWatch counts a model's 4xx and 5xx (a timeout is a 5xx) under the caller's variant.
            status, model_error = (400 if 400 <= exc.status < 500 else 500), True
            error = self._model_error(inv.endpoint, exc, inv.inference_id, hops.trace_id)
            answered = error.status
            hops.failed(exc.hostname, error.message)
            self.invocation_log.note(
                inv.endpoint, variant, instance.instance_id, exc.hostname, self._ids(hops, inv) + error.message
            )
            raise error from exc
        finally:
            instance.inflight -= 1
            hops.finish(answered)
            if hops.step is not None and inv.trace_key is not None:
                self.traces.put(inv.trace_key, hops.step.to_json())
                for hop in hops.step.hops:
                    answer = hop.get("Response", {}).get("Status", "no answer")
                    self.invocation_log.note(
                        inv.endpoint,
                        variant,
                        instance.instance_id,
                        hop["ContainerHostname"],
                        f"{self._ids(hops, inv)}traced request answered {answer} in {hop.get('LatencyMs', 0):.1f} ms",
                    )
            total_us = (time.perf_counter() - started) * 1e6
            model_us = sum(t for _, t in timings)
            self.metrics.record(
                inv.endpoint,
                variant,
                status=status,
                model_latency_us=model_us if timings else None,
                overhead_us=max(0.0, total_us - model_us) if status == 200 else None,
                containers=timings if len(instance.handle.containers) > 1 else [],
                model_error=model_error,
            )
        if route.capture is not None:
            route.capture.take(
                inv.endpoint, variant, inv.body, inv.content_type, result.body, result.content_type, inv.inference_id
            )
        return InvocationResult(result.body, result.content_type, variant, result.custom_attributes)

    def _hops(
        self, inv: Invocation, route: EndpointRoute, variant: str, fleet: Fleet, instance: Instance
    ) -> HopRecorder:
        ctx = trace_context.start(inv.traceparent)
        step = None
        images: dict[str, str] = {}
        if inv.trace_key is not None:
            step = StepTrace(
                inv.endpoint,
                variant,
                instance.instance_id,
                route.mode,
                ctx.trace_id,
                inv.inference_id,
                self.settings.trace_preview_bytes,
            )
            images = {c.hostname: c.image for c in fleet.variant.model.containers}
        return HopRecorder(
            ctx,
            endpoint=inv.endpoint,
            variant=variant,
            instance=instance.instance_id,
            telemetry=self.telemetry,
            step=step,
            images=images,
        )

    @staticmethod
    def _ids(hops: HopRecorder, inv: Invocation) -> str:
        return f"[inferpipe] trace_id={hops.trace_id} inference_id={inv.inference_id or '-'} "

    def _log_stream(self, endpoint: str) -> str:
        return (
            f"arn:aws:logs:{self.settings.region}:{self.settings.account}:log-group:/aws/sagemaker/Endpoints/{endpoint}"
        )

    def _model_error(
        self, endpoint: str, exc: ContainerCallError, inference_id: str | None = None, trace_id: str | None = None
    ) -> ModelError:
        region, account = self.settings.region, self.settings.account
        see = (
            f" See https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:group="
            f"/aws/sagemaker/Endpoints/{endpoint} in account {account} for more information."
        )
        h = exc.hostname
        if exc.payload_too_large:
            nxt, size = exc.payload_too_large
            text = (
                f"Received response from {h} with status code 200. However, the request payload from {h} to {nxt} is"
                f" {size} bytes, which has exceeded the maximum limit of 5 MB."
            )
        elif exc.unreadable:
            text = f"Received server error (500) from {h} and could not load the entire response body." + see
        else:
            kind = "client" if 400 <= exc.status < 500 else "server"
            text = f'Received {kind} error ({exc.status}) from {h} with message "{exc.message}".' + see
        # Joins the error to its spans and to the `inferpipe logs` lines of the same request.
        text += f" Trace id: {trace_id}." if trace_id else ""
        text += f" Inference id: {inference_id}." if inference_id else ""
        return ModelError(text, exc.status, exc.message, self._log_stream(endpoint))
