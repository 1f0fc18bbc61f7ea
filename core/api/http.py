"""The wire edge: SageMaker's awsJson1.1 control plane and restJson1 runtime over aiohttp; the only
module that knows about HTTP. Design notes: docs/wire-edge.md."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from inferpipe.core.api.guard import Policy, middleware
from inferpipe.core.api.http_limits import RUNTIME_PREFIX, body_guard
from inferpipe.core.api.invocation_validation import check_invocation
from inferpipe.core.api.operations import Operations
from inferpipe.core.api.request_body import decode_request
from inferpipe.core.api.service import SageMakerService
from inferpipe.core.daemon_log import one_line
from inferpipe.core.errors import InternalFailure, SageMakerError
from inferpipe.core.serving.metrics import Metrics
from inferpipe.core.serving.router import MAX_REQUEST_BYTES, Invocation, Router

log = logging.getLogger("inferpipe.http")

JSON_11 = "application/x-amz-json-1.1"
# invoke --trace: asked for by this request header, answered by the id to fetch the trace with
# (Inferpipe.GetInvocationTrace), so the response body stays byte-identical.
TRACE_REQUEST = "X-Inferpipe-Trace"
TRACE_ID = "X-Inferpipe-Trace-Id"


def _error_response(exc: SageMakerError, *, rest: bool, request_id: str) -> web.Response:
    if rest:
        body: dict[str, Any] = {"Message": exc.message, **exc.extra_fields()}
        headers = {"x-amzn-ErrorType": exc.code, "x-amzn-RequestId": request_id}
        return web.Response(
            status=exc.status, body=json.dumps(body).encode(), headers=headers, content_type="application/json"
        )
    body = {"__type": exc.code, "message": exc.message}
    return web.Response(
        status=exc.status,
        body=json.dumps(body).encode(),
        headers={"x-amzn-RequestId": request_id},
        content_type=JSON_11,
    )


def internal_failure(request_id: str) -> InternalFailure:
    """What the caller learns of a bug: that it happened and where to look, not its internals."""
    return InternalFailure(f"An internal error occurred. See the daemon log (request id {request_id}).")


def data_plane_catch_all() -> Middleware:
    """The runtime API's last word on a bug anywhere below it (the signature check, the route, the
    router, the containers' client): logged once with a request id, answered as restJson1
    InternalFailure, never as aiohttp's plain-text 500 that the SDK cannot parse. The control plane
    renders its own (JSON 1.1) in its handler."""

    @web.middleware
    async def catch_all(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(RUNTIME_PREFIX):
            return await handler(request)
        try:
            return await handler(request)
        except web.HTTPException:
            raise  # aiohttp's own answers (no such route, ...) are not bugs
        except Exception:  # noqa: BLE001 - a bug: logged once, the caller gets no internals
            request_id = str(uuid.uuid4())
            log.exception("request %s: InvokeEndpoint on %s failed", request_id, one_line(request.path, 120))
            return _error_response(internal_failure(request_id), rest=True, request_id=request_id)

    return catch_all


def build_app(
    service: SageMakerService, operations: Operations, router: Router, metrics: Metrics, policy: Policy
) -> web.Application:
    def render(exc: SageMakerError, rest: bool) -> web.Response:
        return _error_response(exc, rest=rest, request_id=str(uuid.uuid4()))

    # The body limits come first: nothing, the signature check included, reads a body before
    # its size and read timeout apply.
    app = web.Application(
        client_max_size=MAX_REQUEST_BYTES + 1024 * 1024,
        middlewares=[body_guard(service.settings, render), data_plane_catch_all(), middleware(policy, _error_response)],
    )

    async def control_plane(request: web.Request) -> web.Response:
        request_id = str(uuid.uuid4())
        target = request.headers.get("X-Amz-Target", "")
        try:
            handler = operations.handler(target)
            raw = await request.read()  # already read, within its limits, by body_guard
            payload = decode_request(raw, service.settings.max_request_depth)
            result = await handler(payload)
            body = json.dumps(result).encode()
        except SageMakerError as exc:
            # The caller's mistake: one line, no traceback (a flood of bad requests stays cheap).
            log.info("%s refused: %s: %s", one_line(target, 80), exc.code, one_line(exc.message))
            return _error_response(exc, rest=False, request_id=request_id)
        except Exception:  # noqa: BLE001 - never leak a traceback or internals to an SDK
            log.exception("request %s: %s failed", request_id, one_line(target, 80))
            return _error_response(internal_failure(request_id), rest=False, request_id=request_id)
        return web.Response(body=body, content_type=JSON_11, headers={"x-amzn-RequestId": request_id})

    async def invocations(request: web.Request) -> web.StreamResponse:
        request_id = str(uuid.uuid4())
        h = request.headers
        try:
            body = await request.read()  # already read, within its limits, by body_guard
            invocation = Invocation(
                endpoint=request.match_info["name"],
                body=body,
                content_type=h.get("Content-Type"),
                accept=h.get("Accept"),
                custom_attributes=h.get("X-Amzn-SageMaker-Custom-Attributes"),
                target_variant=h.get("X-Amzn-SageMaker-Target-Variant"),
                target_container=h.get("X-Amzn-SageMaker-Target-Container-Hostname"),
                inference_id=h.get("X-Amzn-SageMaker-Inference-Id"),
                traceparent=h.get("traceparent"),
                trace_key=request_id if h.get(TRACE_REQUEST, "").strip() in ("1", "true") else None,
            )
            check_invocation(invocation)
            result = await router.invoke(invocation)
        except SageMakerError as exc:
            error = _error_response(exc, rest=True, request_id=request_id)
            if router.traces.get(request_id) is not None:
                error.headers[TRACE_ID] = request_id
            return error
        headers = {
            "x-Amzn-Invoked-Production-Variant": result.variant,
            "X-Amzn-SageMaker-Custom-Attributes": result.custom_attributes or "",
            "x-amzn-RequestId": request_id,
        }
        if invocation.trace_key is not None:
            headers[TRACE_ID] = request_id
        resp = web.Response(body=result.body, headers=headers)
        if result.content_type:
            resp.headers["Content-Type"] = result.content_type
        return resp

    async def prometheus(_request: web.Request) -> web.Response:
        return web.Response(text=metrics.prometheus(), content_type="text/plain")

    async def health(_request: web.Request) -> web.Response:
        # Unsigned, so it says only that a daemon lives here and for which home (a hash of its
        # path: the CLI's way to tell its own daemon from another home's on the same port).
        # Everything else (pid, version, home path) is the signed Inferpipe.Status.
        # A random id per daemon process: `daemon stop` matches it against the home's owner-only
        # record, so a listener that is not this home's daemon cannot pass for it.
        instance = service.status_extra.get("instanceId")
        return web.json_response({"status": "ok", "homeId": service.settings.home_id, "instanceId": instance})

    app.router.add_post("/", control_plane)
    app.router.add_post("/endpoints/{name}/invocations", invocations)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/ping", health)
    return app
