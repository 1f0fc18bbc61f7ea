"""invoke --trace, W3C traceparent and OpenTelemetry spans through real container chains."""

from __future__ import annotations

import hashlib
import json

import pytest
from helpers import container_ports, deploy, echo_containers, stats, teardown, unique
from inferpipe_testing.otlp_receiver import OtlpReceiver
from support import cleanup, make_daemon

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
CALLER_TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
SERVER, CLIENT, ERROR = 2, 3, 2  # the OTLP protocol's SpanKind and StatusCode numbers


def _traced(daemon, *args: str) -> tuple[int, dict, bytes]:  # noqa: ANN001
    res = daemon.cli("--output", "json", "invoke", *args, "--trace")
    return res.returncode, json.loads(res.stdout), res.stderr


def test_trace_of_a_three_container_chain_and_a_model_error(sm, rt, echo_image, daemon):  # noqa: ANN001
    name = unique("trace")
    env = {1: {"OUT_CONTENT_TYPE": "application/x-featurized"}}
    deploy(sm, name, echo_containers(echo_image, 3, env))
    try:
        ports = container_ports(sm, name)
        plain = daemon.raw_invoke(name, b"hello", {"Content-Type": "text/csv"})
        traced = daemon.raw_invoke(name, b"hello", {"Content-Type": "text/csv", "X-Inferpipe-Trace": "1"})
        # the opt-in header changes nothing in the response body, and costs a header only
        assert traced.status_code == plain.status_code == 200
        assert traced.content == plain.content
        assert "X-Inferpipe-Trace-Id" not in plain.headers
        assert traced.headers["X-Inferpipe-Trace-Id"] == traced.headers["x-amzn-RequestId"]

        code, doc, _ = _traced(daemon, name, "--body", "hello")
        assert code == 0
        trace = doc["Trace"]
        hops = trace["Containers"]
        assert [h["ContainerHostname"] for h in hops] == ["container-1", "container-2", "container-3"]
        assert [h["Position"] for h in hops] == [1, 2, 3]
        assert {h["Image"] for h in hops} == {echo_image}
        assert trace["StoppedAt"] is None and trace["InvocationMode"] == "Serial"
        host = hops[0]["Response"]["Preview"].split("@")[1]
        assert hops[0]["Request"]["Preview"] == "hello" and hops[0]["Request"]["ContentType"] == "text/csv"
        for before, after in zip(hops, hops[1:], strict=False):
            # what container N answered is, byte for byte, what container N+1 received
            assert after["Request"]["Sha256"] == before["Response"]["Sha256"]
            assert after["Request"]["Preview"] == before["Response"]["Preview"]
        assert hops[1]["Request"]["ContentType"] == "application/x-featurized"
        assert hops[2]["Response"]["Preview"] == f"hello|container-1@{host}|container-2@{host}|container-3@{host}"
        assert doc["Body"] == hops[2]["Response"]["Preview"]
        for hop in hops:
            assert hop["Response"]["Status"] == 200 and hop["LatencyMs"] >= 0
            assert hop["InstanceId"] == trace["InstanceId"]
            # the headers shown are the headers the container saw
            seen = stats(ports[hop["ContainerHostname"]][0])["last_headers"]
            shown = hop["Request"]["Headers"]
            for key in ("traceparent", "Content-Type", "Content-Length"):
                assert shown[key] == seen[key], key
            assert int(shown["Content-Length"]) == hop["Request"]["Size"]
            assert shown["traceparent"].split("-")[1] == trace["TraceId"]

        # a ModelError at container 2: the trace shows where it stopped and what it answered
        code, doc, err = _traced(daemon, name, "--body", "x FAIL:container-2:500")
        assert code == 254  # the service error, as the AWS CLI v2 exits
        trace = doc["Trace"]
        assert doc["Error"]["Code"] == "ModelError"
        assert [h["ContainerHostname"] for h in trace["Containers"]] == ["container-1", "container-2"]
        assert trace["StoppedAt"] == "container-2"
        failed = trace["Containers"][1]
        assert failed["Response"]["Status"] == 500 and failed["Response"]["Preview"] == "boom from container-2"
        assert "Received server error (500) from container-2" in failed["Error"]
        assert f"Trace id: {trace['TraceId']}." in doc["Error"]["Message"]
        assert b"ModelError" in err

        # the trace id leads to the daemon's line in container 2's log stream; so does an inference id
        found = daemon.cli_json("logs", "--endpoint-name", name, "--filter-pattern", trace["TraceId"])["Streams"]
        lines = [(s["LogStreamName"], e["Message"]) for s in found for e in s["Events"]]
        ids = f"[inferpipe] trace_id={trace['TraceId']} inference_id=- "
        by_container = {}
        for stream, message in lines:
            by_container.setdefault(stream.rsplit("/", 1)[1], []).append(message.removeprefix(ids))
        assert sorted(by_container) == ["container-1", "container-2"] and all(m.startswith(ids) for _, m in lines)
        assert [m.split(" in ")[0] for m in by_container["container-1"]] == ["traced request answered 200"]
        assert any(m.startswith("Received server error (500) from container-2") for m in by_container["container-2"])
        bad = daemon.raw_invoke(name, b"FAIL:container-2:503", {"X-Amzn-SageMaker-Inference-Id": "inf-42"})
        assert bad.status_code == 424 and bad.json()["Message"].endswith("Inference id: inf-42.")
        found = daemon.cli_json("logs", "--endpoint-name", name, "--filter-pattern", "inference_id=inf-42")["Streams"]
        assert [e["Message"] for s in found for e in s["Events"] if "(503)" in e["Message"]]

        # people get a tree
        tree = daemon.cli("--output", "table", "invoke", name, "--body", "x FAIL:container-2:500", "--trace")
        out = tree.stdout.decode()
        assert tree.returncode == 254  # the service error, as the AWS CLI v2 exits
        assert "1. container-1" in out and "2. container-2" in out and "3. container-3" not in out
        assert "stopped the chain" in out and "boom from container-2" in out
    finally:
        teardown(sm, name)


def test_trace_of_a_binary_body_and_direct_mode(sm, echo_image, daemon):  # noqa: ANN001
    name = unique("trace-direct")
    containers = echo_containers(echo_image, 2, {2: {"ECHO_RAW": "1"}}, hostnames=["prep", "model"])
    deploy(sm, name, containers, mode="Direct")
    try:
        body = bytes(range(256)) * 8  # 2 KiB, not UTF-8, longer than the preview
        res = daemon.raw_invoke(
            name,
            body,
            {
                "Content-Type": "application/octet-stream",
                "X-Amzn-SageMaker-Target-Container-Hostname": "model",
                "X-Inferpipe-Trace": "1",
            },
        )
        assert res.status_code == 200 and res.content == body
        trace = daemon.raw_call(
            "Inferpipe.GetInvocationTrace", json.dumps({"TraceId": res.headers["X-Inferpipe-Trace-Id"]}).encode()
        ).json()
        assert trace["InvocationMode"] == "Direct"
        [hop] = trace["Containers"]
        assert hop["ContainerHostname"] == "model" and hop["Position"] == 2
        for view in (hop["Request"], hop["Response"]):
            assert view["Size"] == len(body) and view["Truncated"] is True
            assert view["PreviewEncoding"] == "base64" and view["Sha256"] == hashlib.sha256(body).hexdigest()
        missing = daemon.raw_call("Inferpipe.GetInvocationTrace", b'{"TraceId": "nope"}')
        assert missing.status_code == 400 and "X-Inferpipe-Trace: 1" in missing.json()["message"]
    finally:
        teardown(sm, name)


@pytest.fixture
def otlp() -> OtlpReceiver:
    with OtlpReceiver() as receiver:
        yield receiver


def test_traceparent_reaches_every_container_and_spans_reach_the_otlp_receiver(echo_image, otlp):  # noqa: ANN001
    d = make_daemon(OTEL_EXPORTER_OTLP_ENDPOINT=otlp.endpoint, OTEL_BSP_SCHEDULE_DELAY="100")
    d.start()
    try:
        sm = d.client("sagemaker")
        name = unique("otel")
        deploy(sm, name, echo_containers(echo_image, 3))
        ports = container_ports(sm, name)
        ok = d.raw_invoke(name, b"hi", {"Content-Type": "text/csv", "traceparent": CALLER_TRACEPARENT})
        assert ok.status_code == 200
        seen = {h: stats(ports[h][0])["last_headers"]["traceparent"] for h in ports}
        spans = [s for s in otlp.wait_for(4) if s.trace_id == CALLER_TRACE]
        [root] = [s for s in spans if s.kind == SERVER]
        assert root.parent_span_id == CALLER_SPAN  # the caller's span is the invocation's parent
        assert root.attributes["inferpipe.endpoint"] == name
        assert root.attributes["inferpipe.variant"] == "AllTraffic"
        hops = {s.attributes["inferpipe.container"]: s for s in spans if s.kind == CLIENT}
        assert set(hops) == {"container-1", "container-2", "container-3"}
        for hostname, span in hops.items():
            assert span.parent_span_id == root.span_id
            # each container got the traceparent naming its own hop's span
            assert seen[hostname] == f"00-{CALLER_TRACE}-{span.span_id}-01"
            assert span.attributes["http.response.status_code"] == 200
            assert span.attributes["inferpipe.request.bytes"] > 0 and span.attributes["inferpipe.response.bytes"] > 0
        c1, c2 = hops["container-1"].attributes, hops["container-2"].attributes
        assert c2["inferpipe.request.bytes"] == c1["inferpipe.response.bytes"] > len(b"hi")

        # without a caller's traceparent: a new trace, still one span per hop, the error marked
        bad = d.raw_invoke(name, b"x FAIL:container-2:500", {"Content-Type": "text/csv"})
        assert bad.status_code == 424
        trace_id = stats(ports["container-1"][0])["last_headers"]["traceparent"].split("-")[1]
        assert trace_id != CALLER_TRACE and f"Trace id: {trace_id}." in bad.json()["Message"]
        deadline_spans = otlp.wait_for(len(spans) + 3)
        failed = [s for s in deadline_spans if s.trace_id == trace_id]
        [root] = [s for s in failed if s.kind == SERVER]
        assert root.parent_span_id == "" and root.status_code == ERROR
        assert root.attributes["http.response.status_code"] == 424  # what the caller got: a ModelError
        by_name = {s.attributes["inferpipe.container"]: s for s in failed if s.kind == CLIENT}
        assert set(by_name) == {"container-1", "container-2"}
        assert by_name["container-2"].status_code == ERROR
        assert by_name["container-2"].attributes["http.response.status_code"] == 500

        # a caller that did not sample its trace: the containers hear so, and nothing is exported
        unsampled = "ab" * 16
        quiet = d.raw_invoke(name, b"hi", {"Content-Type": "text/csv", "traceparent": f"00-{unsampled}-{'cd' * 8}-00"})
        assert quiet.status_code == 200
        heard = stats(ports["container-3"][0])["last_headers"]["traceparent"]
        assert heard.startswith(f"00-{unsampled}-") and heard.endswith("-00")
        # spans leave in order: once a later request's spans are in, the unsampled one's would be too
        later = d.raw_invoke(name, b"hi", {"Content-Type": "text/csv"})
        later_trace = stats(ports["container-1"][0])["last_headers"]["traceparent"].split("-")[1]
        assert later.status_code == 200
        received = otlp.wait_for(len(deadline_spans) + 4)
        assert any(s.trace_id == later_trace for s in received)
        assert not [s for s in received if s.trace_id == unsampled]
        assert all(ct == "application/x-protobuf" for ct in otlp.content_types)
    finally:
        cleanup(d)
