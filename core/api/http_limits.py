"""What one HTTP client can hold of the daemon: connections, the time to send a request's head and
body, idle keep-alive time, and the size of a request body. Design notes: docs/wire-edge.md."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import ClientPayloadError, web
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_protocol import RequestHandler

from inferpipe.core.config import Settings
from inferpipe.core.errors import SageMakerError, SerializationException, ValidationError, ValidationException
from inferpipe.core.serving.router import MAX_REQUEST_BYTES

log = logging.getLogger("inferpipe.http")

RUNTIME_PREFIX = "/endpoints/"

# Renders an error the way the wire edge does: (error, rest=True for the runtime API) -> response.
ErrorRenderer = Callable[[SageMakerError, bool], web.StreamResponse]


class ControlPlaneBodyTooLarge(ValidationException):
    status = 413


class RequestBodyTimeout(SageMakerError):
    # The code botocore treats as a transient error of the request, not of the service.
    code = "RequestTimeoutException"
    status = 408


class _Throttled:
    """Logs one line per kind of event at most every 10 s, with the count since the last line: an
    attack opening thousands of connections must not flood daemon.log too."""

    def __init__(self, message: str) -> None:
        self.message = message
        self.count = 0
        self.last = 0.0

    def note(self, *args: Any) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= 10.0:
            log.warning(self.message + " (%d since the last report)", *args, self.count)
            self.count = 0
            self.last = now


_REFUSED = _Throttled("refused a connection: %d are open, INFERPIPE_MAX_CONNECTIONS is %d")
_SLOW_HEAD = _Throttled("closed a connection whose request headers did not arrive within %s s")
_SLOW_BODY = _Throttled("closed a connection whose request body did not arrive within %s s")


class GuardedRequestHandler(RequestHandler):
    """aiohttp's connection protocol with a deadline for each request head."""

    __slots__ = ("_server", "_header_timeout", "_head_timer", "_heads_seen")

    def __init__(self, server: GuardedServer, **kwargs: Any) -> None:
        super().__init__(server, **kwargs)
        self._server = server
        self._header_timeout = server.header_timeout
        self._head_timer: asyncio.TimerHandle | None = None
        self._heads_seen = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # Refused here, after aiohttp scheduled its request loop, rather than in the server's
        # connection_made: closing earlier lets connection_lost run before that loop starts, which
        # then fails an assertion.
        open_now = len(self._server.connections)
        if open_now > self._server.max_connections:
            # Closing at once frees the slot; not accepting would leave the client waiting in the
            # listen backlog with no answer at all.
            self.force_close()
            _REFUSED.note(open_now - 1, self._server.max_connections)
            return
        self._start_head_timer()

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and self._between_requests():
            self._start_head_timer()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)
        if self._request_count != self._heads_seen:  # the parser completed a head
            self._heads_seen = self._request_count
            self._stop_head_timer()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def _between_requests(self) -> bool:
        return not self._request_in_progress and not self._messages

    def _start_head_timer(self) -> None:
        self._head_timer = self._loop.call_later(self._header_timeout, self._head_too_slow)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._between_requests():
            _SLOW_HEAD.note(self._header_timeout)
            self.force_close()


class GuardedServer(web.Server):
    """aiohttp's protocol factory (which also counts the open connections), making GuardedRequestHandlers."""

    def __init__(self, plain: web.Server, settings: Settings) -> None:
        super().__init__(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=plain._loop,
            **plain._kwargs,
        )
        self.max_connections = settings.max_connections
        self.header_timeout = settings.header_timeout

    def __call__(self) -> RequestHandler:
        return GuardedRequestHandler(self, loop=self._loop, **self._kwargs)


class GuardedAppRunner(web.AppRunner):
    """An AppRunner serving through GuardedServer, with the keep-alive timeout from the settings."""

    __slots__ = ("_settings",)

    def __init__(self, app: web.Application, settings: Settings, **kwargs: Any) -> None:
        super().__init__(app, keepalive_timeout=settings.keepalive_timeout, **kwargs)
        self._settings = settings

    async def _make_server(self) -> web.Server:
        return GuardedServer(await super()._make_server(), self._settings)


def body_guard(settings: Settings, render: ErrorRenderer) -> Middleware:
    """The middleware reading every request body within its size limit and the body timeout, before
    the handler runs (the handler's own ``request.read()`` then returns the bytes read here). It
    must stay the outermost middleware, so nothing reads a body before the limits apply."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.body_exists:
            return await handler(request)
        runtime = request.path.startswith(RUNTIME_PREFIX)
        limit = MAX_REQUEST_BYTES if runtime else settings.control_plane_max_body

        def too_large(size: int | None) -> SageMakerError:
            if runtime:
                return ValidationError(f"Request payload exceeds the maximum of {MAX_REQUEST_BYTES} bytes (6 MB).")
            what = f"Request body of {size} bytes" if size is not None else "Request body"
            return ControlPlaneBodyTooLarge(
                f"{what} exceeds the control plane's limit of {limit} bytes (INFERPIPE_CONTROL_PLANE_MAX_BODY)."
            )

        declared = request.content_length
        if declared is not None and declared > limit:
            return render(too_large(declared), runtime)
        # Runtime requests are read under the application's own client_max_size (the router refuses
        # what passes 6 MiB): cloning a request to give it a smaller one costs about 30 us, too much
        # on the data plane's path, and only control-plane requests need the smaller limit.
        limited = request if runtime else request.clone(client_max_size=limit)
        try:
            if request.content.is_eof():  # it all came with the head: no timer (7 us) on the hot path
                await limited.read()
            else:
                async with asyncio.timeout(settings.body_timeout):
                    await limited.read()
        except web.HTTPRequestEntityTooLarge:
            return render(too_large(None), runtime)
        except (ClientPayloadError, ConnectionError) as exc:  # the client broke off or garbled the body
            unreadable = ValidationError if runtime else SerializationException
            response = render(unreadable(f"The request body could not be read: {exc}"), runtime)
            response.force_close()
            return response
        except TimeoutError:
            _SLOW_BODY.note(settings.body_timeout)
            error = RequestBodyTimeout(
                f"The request body did not arrive within {settings.body_timeout:g} s (INFERPIPE_BODY_TIMEOUT)."
            )
            return await _answer_and_close(request, render(error, runtime))
        return await handler(limited)

    return guard


async def _answer_and_close(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Send the response, then close the connection at once: aiohttp would otherwise linger, reading
    the rest of a body that is not coming, for up to its lingering time."""
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()
    return response
