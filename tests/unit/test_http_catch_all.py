"""The data plane's catch-all: a bug below the wire edge reaches the SDK as restJson1 InternalFailure
naming only a request id, and the traceback is logged once under that id."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from inferpipe.core.api.guard import Policy
from inferpipe.core.api.http import build_app
from inferpipe.core.api.operations import Operations
from inferpipe.core.api.service import SageMakerService
from inferpipe.core.config import Settings
from inferpipe.core.serving.metrics import Metrics
from inferpipe.core.serving.router import Router


class BrokenRouter:
    async def invoke(self, _invocation: Any) -> Any:
        raise RuntimeError("secret internals: /home/someone/.inferpipe/state.db")


class BrokenPolicy(Policy):
    async def admit(self, request: web.Request, rest: bool) -> web.StreamResponse | None:
        raise KeyError("secret internals")


async def invoke_broken(home: Path, policy: Policy) -> tuple[int, dict[str, str], dict[str, Any]]:
    service = cast(SageMakerService, SimpleNamespace(settings=Settings(home=home), status_extra={}))
    app = build_app(service, Operations({}), cast(Router, BrokenRouter()), Metrics(), policy)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        resp = await client.post(
            "/endpoints/ep/invocations", data=b"1,2", headers={"Content-Type": "text/csv", "Host": "127.0.0.1"}
        )
        return resp.status, dict(resp.headers), await resp.json()


# In the router (inside the route's handler) and in the request guard (a middleware around it).
@pytest.mark.parametrize("policy", [Policy(None), BrokenPolicy(None)], ids=["router", "guard"])
def test_an_unexpected_error_on_the_data_plane_is_a_rest_internal_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, policy: Policy
) -> None:
    with caplog.at_level(logging.ERROR, logger="inferpipe.http"):
        status, headers, body = asyncio.run(invoke_broken(tmp_path, policy))
    assert status == 500
    assert headers["x-amzn-ErrorType"] == "InternalFailure"
    assert headers["Content-Type"].startswith("application/json")
    request_id = headers["x-amzn-RequestId"]
    assert body == {"Message": f"An internal error occurred. See the daemon log (request id {request_id})."}
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert "secret internals" not in str(body)
