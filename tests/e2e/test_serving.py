"""Real-time serving through real multi-container pipelines on the Docker engine."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
from helpers import container_ports, deploy, echo_containers, stats, teardown, unique
from support import cleanup, make_daemon, wait_endpoint


def _invoke(rt, name, body=b"x", **kw):  # noqa: ANN001, ANN202
    r = rt.invoke_endpoint(EndpointName=name, Body=body, **kw)
    return r, r["Body"].read()


def test_chain_runs_in_order_with_sagemaker_headers(sm, rt, echo_image):  # noqa: ANN001
    name = unique("chain")
    env = {1: {"OUT_CONTENT_TYPE": "application/x-featurized"}, 3: {"OUT_CONTENT_TYPE": "application/json"}}
    deploy(sm, name, echo_containers(echo_image, 3, env), instances=2)
    try:
        r, body = _invoke(
            rt, name, b"hello", ContentType="text/csv", Accept="application/json", CustomAttributes="trace=1"
        )
        parts = body.decode().split("|")
        assert parts[0] == "hello"
        assert [p.split("@")[0] for p in parts[1:]] == ["container-1", "container-2", "container-3"]
        assert len({p.split("@")[1] for p in parts[1:]}) == 1, "a request runs on one instance"
        assert r["ContentType"] == "application/json"
        assert r["InvokedProductionVariant"] == "AllTraffic"
        assert r["CustomAttributes"] == "trace=1;container-3"
        ports = container_ports(sm, name)
        seen = [stats(p)["last_headers"] for p in ports["container-2"] if stats(p)["invocations"]]
        assert seen and seen[0]["Content-Type"] == "application/x-featurized"
        assert seen[0]["Accept"] == "application/json"
        assert seen[0]["X-Amzn-SageMaker-Custom-Attributes"] == "trace=1"
        first = [stats(p) for p in ports["container-1"] if stats(p)["invocations"]][0]
        assert first["last_headers"]["Content-Type"] == "text/csv"
        # every container was told its own port and a disjoint safe range
        envs = [stats(ports[h][0])["env"] for h in ("container-1", "container-2", "container-3")]
        assert [e["SAGEMAKER_BIND_TO_PORT"] for e in envs] == ["8080", "8081", "8082"]
        assert len({e["SAGEMAKER_SAFE_PORT_RANGE"] for e in envs}) == 3
        # round robin over both instances
        hosts = {_invoke(rt, name)[1].decode().split("@")[-1] for _ in range(6)}
        assert len(hosts) == 2
        desc = sm.describe_endpoint(EndpointName=name)
        pv = desc["ProductionVariants"][0]
        assert pv["CurrentInstanceCount"] == 2 and pv["DesiredInstanceCount"] == 2
        assert pv["DeployedImages"][0]["ResolvedImage"].startswith("inferpipe-test/echo@sha256:")
        assert "VpcConfig" not in desc and "DataCaptureConfig" not in desc
    finally:
        teardown(sm, name)


def test_container_error_is_model_error_and_stops_the_chain(sm, rt, echo_image, daemon):  # noqa: ANN001
    name = unique("err")
    deploy(sm, name, echo_containers(echo_image, 3))
    try:
        ports = container_ports(sm, name)
        before = stats(ports["container-3"][0])["invocations"]
        with pytest.raises(rt.exceptions.ModelError) as err:
            _invoke(rt, name, b"x FAIL:container-2:500")
        resp = err.value.response
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 424
        assert resp["Error"]["Message"].startswith(
            'Received server error (500) from container-2 with message "boom from container-2".'
        )
        assert resp["OriginalStatusCode"] == 500
        assert resp["OriginalMessage"] == "boom from container-2"
        assert "/aws/sagemaker/Endpoints/" + name in resp["LogStreamArn"]
        assert stats(ports["container-3"][0])["invocations"] == before
        with pytest.raises(rt.exceptions.ModelError) as err:
            _invoke(rt, name, b"x FAIL:container-1:400")
        assert "Received client error (400) from container-1" in err.value.response["Error"]["Message"]
        metrics = daemon.cli_json("metrics", "--endpoint-name", name)
        by = {(m["MetricName"], m.get("ContainerName", "")): m for m in metrics["Metrics"]}
        assert by[("Invocation5XXErrors", "")]["Sum"] == 1
        assert by[("Invocation4XXErrors", "")]["Sum"] == 1
    finally:
        teardown(sm, name)


def test_ping_failure_fails_the_endpoint_naming_the_container(sm, echo_image, daemon):  # noqa: ANN001
    name = unique("ping")
    deploy(sm, name, echo_containers(echo_image, 3, {2: {"PING_STATUS": "500"}}), wait=None)
    desc = wait_endpoint(sm, name, "Failed", timeout=90)
    assert "container-2" in desc["FailureReason"]
    assert "ping health check" in desc["FailureReason"]
    assert "container-1" not in desc["FailureReason"].split("did not pass")[0]
    assert not daemon.containers_of(name)
    teardown(sm, name)


def test_container_exiting_at_start_fails_at_once(sm, echo_image, daemon):  # noqa: ANN001
    name = unique("exit")
    deploy(sm, name, echo_containers(echo_image, 2, {2: {"EXIT_AT_START": "3"}}), wait=None)
    desc = wait_endpoint(sm, name, "Failed", timeout=30)
    assert "container-2" in desc["FailureReason"] and "exited during start-up with code 3" in desc["FailureReason"]
    assert "exiting at start as asked" in desc["FailureReason"]
    assert not daemon.containers_of(name)
    teardown(sm, name)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing-image", "is not present in the local Docker engine"),
        ("no-label", "accept-bind-to-port=true"),
        ("s3", "s3://bucket/model.tar.gz"),
        ("missing-data", "Could not find model data at"),
    ],
)
def test_bad_images_and_model_data_are_refused_clearly(sm, echo_image, daemon, case, expected, tmp_path):  # noqa: ANN001
    name = unique(case)
    containers = echo_containers(echo_image, 2)
    if case == "missing-image":
        containers[1]["Image"] = "inferpipe-test/does-not-exist:1"
    elif case == "no-label":
        containers[1]["Image"] = "inferpipe-test/echo-nolabel:1"
    elif case == "s3":
        containers[0]["ModelDataUrl"] = "s3://bucket/model.tar.gz"
    else:
        containers[0]["ModelDataUrl"] = str(tmp_path / "nope.tar.gz")
    deploy(sm, name, containers, wait=None)
    desc = wait_endpoint(sm, name, "Failed", timeout=30)
    assert expected in desc["FailureReason"]
    assert not daemon.containers_of(name)
    teardown(sm, name)


def _tar(members: list[tarfile.TarInfo], path: Path, data: bytes = b"x") -> None:
    with tarfile.open(path, "w:gz") as tar:
        for m in members:
            tar.addfile(m, io.BytesIO(data) if m.isfile() else None)


def test_model_tarball_is_mounted_read_only_and_hostile_ones_refused(sm, rt, echo_image, daemon, tmp_path):  # noqa: ANN001
    good = tmp_path / "good.tar.gz"
    info = tarfile.TarInfo("weights.txt")
    info.size = 1
    _tar([info], good)
    evil = tmp_path / "evil.tar.gz"
    bad = tarfile.TarInfo("../../etc/evil")
    bad.size = 1
    _tar([bad], evil)
    name = unique("tar")
    containers = echo_containers(echo_image, 2)
    containers[0]["ModelDataUrl"] = f"file://{good}"
    deploy(sm, name, containers)
    try:
        cid = daemon.containers_of(name, "container-1")[0]
        out = subprocess.run(
            ["docker", "exec", cid, "cat", "/opt/ml/model/weights.txt"], capture_output=True, text=True
        )
        assert out.stdout == "x"
        touch = subprocess.run(["docker", "exec", cid, "touch", "/opt/ml/model/new"], capture_output=True, text=True)
        assert touch.returncode != 0, "model data must be read-only"
    finally:
        teardown(sm, name)
    assert not list((daemon.home / "model-cache").glob("[0-9a-f]*")), "extracted copy removed with the endpoint"
    name = unique("evil")
    containers[0]["ModelDataUrl"] = str(evil)
    deploy(sm, name, containers, wait=None)
    desc = wait_endpoint(sm, name, "Failed", timeout=30)
    assert "Refusing model data" in desc["FailureReason"] and "../../etc/evil" in desc["FailureReason"]
    teardown(sm, name)


def test_weights_and_target_variant(sm, rt, echo_image):  # noqa: ANN001
    name = unique("weights")
    sm.create_model(ModelName=f"{name}-a", Containers=echo_containers(echo_image, 2, {2: {"ECHO_TAG": "A"}}))
    sm.create_model(ModelName=f"{name}-b", Containers=echo_containers(echo_image, 2, {2: {"ECHO_TAG": "B"}}))
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "one", "ModelName": f"{name}-a", "InitialInstanceCount": 1, "InitialVariantWeight": 1},
            {"VariantName": "two", "ModelName": f"{name}-b", "InitialInstanceCount": 1, "InitialVariantWeight": 0},
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    try:
        wait_endpoint(sm, name)
        variants = set()
        for _ in range(20):
            r, body = _invoke(rt, name)
            variants.add(r["InvokedProductionVariant"])
            assert "|A@" in body.decode()
        assert variants == {"one"}
        r, body = _invoke(rt, name, TargetVariant="two")
        assert r["InvokedProductionVariant"] == "two" and "|B@" in body.decode()
        with pytest.raises(rt.exceptions.ValidationError):
            _invoke(rt, name, TargetVariant="three")
    finally:
        teardown(sm, name)


def test_direct_mode_reaches_one_container(sm, rt, echo_image):  # noqa: ANN001
    name = unique("direct")
    deploy(sm, name, echo_containers(echo_image, 3, hostnames=["prep", "model", "post"]), mode="Direct")
    try:
        _, body = _invoke(rt, name, b"d", TargetContainerHostname="model")
        assert body.decode().split("|")[1].startswith("model@")
        assert body.decode().count("|") == 1
        with pytest.raises(rt.exceptions.ValidationError) as err:
            _invoke(rt, name, b"d")
        assert "TargetContainerHostname" in err.value.response["Error"]["Message"]
        with pytest.raises(rt.exceptions.ValidationError):
            _invoke(rt, name, b"d", TargetContainerHostname="nope")
    finally:
        teardown(sm, name)


def test_runtime_validation_errors(sm, rt, echo_image):  # noqa: ANN001
    with pytest.raises(rt.exceptions.ValidationError) as err:
        _invoke(rt, "no-such-endpoint")
    assert err.value.response["Error"]["Message"] == "Endpoint no-such-endpoint of account 000000000000 not found."
    name = unique("Serial")
    deploy(sm, name, echo_containers(echo_image, 2))
    try:
        with pytest.raises(rt.exceptions.ValidationError):
            _invoke(rt, name, b"x", TargetContainerHostname="container-1")
        with pytest.raises(rt.exceptions.ValidationError):  # invoke is case-sensitive
            _invoke(rt, name.lower())
        with pytest.raises(sm.exceptions.ClientError) as dup:  # uniqueness is not
            sm.create_endpoint(EndpointName=name.lower(), EndpointConfigName=name)
        assert "Cannot create already existing endpoint" in dup.value.response["Error"]["Message"]
        with pytest.raises(rt.exceptions.ValidationError) as big:
            _invoke(rt, name, b"x" * (6 * 1024 * 1024 + 1))
        assert "6291456" in big.value.response["Error"]["Message"]
    finally:
        teardown(sm, name)


def test_deleting_model_and_config_keeps_endpoint_serving(sm, rt, echo_image):  # noqa: ANN001
    name = unique("keep")
    deploy(sm, name, echo_containers(echo_image, 2))
    try:
        sm.delete_model(ModelName=name)
        sm.delete_endpoint_config(EndpointConfigName=name)
        _, body = _invoke(rt, name, b"still")
        assert body.startswith(b"still|container-1")
        assert sm.describe_endpoint(EndpointName=name)["EndpointConfigName"] == name
    finally:
        teardown(sm, name)


def test_boto3_waiters_and_cli(sm, rt, echo_image, daemon):  # noqa: ANN001
    name = unique("wait")
    deploy(sm, name, echo_containers(echo_image, 2), wait=None)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    listed = sm.list_endpoints(NameContains=name, StatusEquals="InService")["Endpoints"]
    assert [e["EndpointName"] for e in listed] == [name]
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.csv", Path(tmp) / "out.bin"
        inp.write_bytes(b"1,2,3")
        res = daemon.cli(
            "invoke-endpoint",
            "--endpoint-name",
            name,
            "--body",
            f"fileb://{inp}",
            "--content-type",
            "text/csv",
            "--custom-attributes",
            "c=1",
            str(out),
            check=True,
        )
        import json

        meta = json.loads(res.stdout)
        assert meta["InvokedProductionVariant"] == "AllTraffic" and meta["ContentType"] == "text/csv"
        assert out.read_bytes().startswith(b"1,2,3|container-1@")
    piped = daemon.cli("invoke", name, input=b"from-stdin", check=True)
    assert piped.stdout.startswith(b"from-stdin|container-1@")
    bad = daemon.cli("invoke", name, "--body", "x FAIL:container-2:503")
    assert bad.returncode == 254  # a service error, as the AWS CLI v2 exits
    assert (
        b"An error occurred (ModelError) when calling the InvokeEndpoint operation: Received server error (503)"
        in bad.stderr
    )
    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert not daemon.containers_of(name)


def test_two_homes_serve_endpoints_of_the_same_name_at_once(sm, echo_image, daemon):  # noqa: ANN001
    other = make_daemon(prefix="inferpipe-e2e-home2-")
    other.start()
    name = unique("twohomes")
    try:
        sm2 = other.client("sagemaker")
        for client in (sm, sm2):
            deploy(client, name, echo_containers(echo_image, 2))
        for handle in (daemon, other):
            assert handle.raw_invoke(name, b"a,b", {"Content-Type": "text/csv"}).status_code == 200
        teardown(sm2, name)
        # deleting it in one home leaves the other's serving
        assert daemon.raw_invoke(name, b"a,b", {"Content-Type": "text/csv"}).status_code == 200
    finally:
        teardown(sm, name)
        cleanup(other)
