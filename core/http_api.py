"""The wire edge: SageMaker's awsJson1.1 control plane and restJson1 runtime over aiohttp.

Only this module knows about HTTP: X-Amz-Target dispatch, JSON (de)coding, error bodies and
headers. Below it everything is typed requests and SageMakerError exceptions.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from aiohttp import web

from .errors import InternalFailure, SageMakerError, SerializationException
from .http_limits import body_guard
from .metrics import Metrics
from .router import MAX_REQUEST_BYTES, Invocation, Router
from .service import SageMakerService

log = logging.getLogger("inferpipe.http")

JSON_11 = "application/x-amz-json-1.1"


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


def build_app(service: SageMakerService, router: Router, metrics: Metrics) -> web.Application:
    def render(exc: SageMakerError, rest: bool) -> web.Response:
        return _error_response(exc, rest=rest, request_id=str(uuid.uuid4()))

    app = web.Application(
        client_max_size=MAX_REQUEST_BYTES + 1024 * 1024, middlewares=[body_guard(service.settings, render)]
    )

    async def control_plane(request: web.Request) -> web.Response:
        request_id = str(uuid.uuid4())
        target = request.headers.get("X-Amz-Target", "")
        try:
            handler = service.operation(target)
            raw = await request.read()
            try:
                payload = json.loads(raw) if raw.strip() else {}
            except json.JSONDecodeError as exc:
                raise SerializationException(f"The request body is not valid JSON: {exc}") from exc
            if not isinstance(payload, dict):
                raise SerializationException("The request body must be a JSON object.")
            result = await handler(payload)
        except SageMakerError as exc:
            return _error_response(exc, rest=False, request_id=request_id)
        except Exception as exc:  # noqa: BLE001 - never leak a traceback as HTML to an SDK
            log.exception("%s failed", target)
            return _error_response(
                InternalFailure(f"Internal error in {target}: {exc}"), rest=False, request_id=request_id
            )
        return web.Response(
            body=json.dumps(result).encode(), content_type=JSON_11, headers={"x-amzn-RequestId": request_id}
        )

    async def invocations(request: web.Request) -> web.StreamResponse:
        request_id = str(uuid.uuid4())
        h = request.headers
        try:
            body = await request.read()
            result = await router.invoke(
                Invocation(
                    endpoint=request.match_info["name"],
                    body=body,
                    content_type=h.get("Content-Type"),
                    accept=h.get("Accept"),
                    custom_attributes=h.get("X-Amzn-SageMaker-Custom-Attributes"),
                    target_variant=h.get("X-Amzn-SageMaker-Target-Variant"),
                    target_container=h.get("X-Amzn-SageMaker-Target-Container-Hostname"),
                    inference_id=h.get("X-Amzn-SageMaker-Inference-Id"),
                )
            )
        except SageMakerError as exc:
            return _error_response(exc, rest=True, request_id=request_id)
        except web.HTTPRequestEntityTooLarge:
            from .errors import ValidationError

            return _error_response(
                ValidationError(f"Request payload exceeds the maximum of {MAX_REQUEST_BYTES} bytes (6 MB)."),
                rest=True,
                request_id=request_id,
            )
        headers = {
            "x-Amzn-Invoked-Production-Variant": result.variant,
            "X-Amzn-SageMaker-Custom-Attributes": result.custom_attributes or "",
            "x-amzn-RequestId": request_id,
        }
        resp = web.Response(body=result.body, headers=headers)
        if result.content_type:
            resp.headers["Content-Type"] = result.content_type
        return resp

    async def prometheus(_request: web.Request) -> web.Response:
        return web.Response(text=metrics.prometheus(), content_type="text/plain")

    async def health(_request: web.Request) -> web.Response:
        return web.json_response(await service.x_Status({}))

    app.router.add_post("/", control_plane)
    app.router.add_post("/endpoints/{name}/invocations", invocations)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/ping", health)
    return app
