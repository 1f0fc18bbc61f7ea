"""Authentication and browser defences against a real daemon: every refusal as boto3 and raw HTTP
see it on both planes, what still works (boto3 with `daemon env` only, a named AWS profile, the CLI
with no setup, curl --aws-sigv4), and INFERPIPE_AUTH=none."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import httpx
import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotocoreCredentials
from botocore.exceptions import ClientError
from support import DaemonHandle, cleanup, free_port, make_daemon

from inferpipe.core import credentials
from inferpipe.core.credentials import Credentials

EXE = str(Path(sys.executable).parent / "inferpipe")
JSON_11 = "application/x-amz-json-1.1"
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret"
    " Access Key and signing method. Consult the service documentation for details."
)
LIST_MODELS = {"X-Amz-Target": "SageMaker.ListModels", "Content-Type": JSON_11}


def sign(
    daemon: DaemonHandle,
    path: str,
    body: bytes = b"{}",
    headers: dict[str, str] | None = None,
    *,
    creds: Credentials | None = None,
    service: str = "sagemaker",
    host: str | None = None,
) -> dict[str, str]:
    """Headers for a request botocore signed (for `host`, by default the daemon's own address)."""
    c = creds or daemon.credentials
    all_headers = {"Host": host or f"127.0.0.1:{daemon.port}", **(headers if headers is not None else LIST_MODELS)}
    req = AWSRequest("POST", daemon.url + path, data=body, headers=all_headers)
    SigV4Auth(BotocoreCredentials(c.access_key_id, c.secret_access_key), service, c.region).add_auth(req)
    return dict(req.headers.items())


def post(daemon: DaemonHandle, path: str, body: bytes = b"{}", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        daemon.url + path, content=body, headers=headers if headers is not None else LIST_MODELS, timeout=30
    )


def error_of(resp: httpx.Response) -> tuple[int, str, str]:
    """(status, code, message) as boto3 would read them from either protocol."""
    body = resp.json()
    code = resp.headers.get("x-amzn-ErrorType") or body.get("__type", "")
    return resp.status_code, code.split(":")[0], body.get("message") or body.get("Message", "")


def clients(daemon: DaemonHandle, **kw: Any) -> tuple[Any, Any]:
    creds = daemon.credentials
    args: dict[str, Any] = {
        "endpoint_url": daemon.url,
        "region_name": creds.region,
        "aws_access_key_id": creds.access_key_id,
        "aws_secret_access_key": creds.secret_access_key,
        "config": Config(retries={"max_attempts": 1, "mode": "standard"}),
    }
    args.update(kw)
    return boto3.client("sagemaker", **args), boto3.client("sagemaker-runtime", **args)


def run(env: dict[str, str], *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], env=env, capture_output=True, text=True, timeout=60, input=input)


def python(env: dict[str, str], script: str) -> Any:
    """Run `script` in a fresh interpreter with exactly `env`; its last stdout line as JSON."""
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


# refusals ------------------------------------------------------------------------------------------
def test_unsigned_requests_are_refused_on_both_planes_as_aws_does(daemon: DaemonHandle) -> None:
    assert error_of(post(daemon, "/")) == (400, "MissingAuthenticationTokenException", "Missing Authentication Token")
    runtime = post(daemon, "/endpoints/any/invocations", b"1,2", {"Content-Type": "text/csv"})
    assert error_of(runtime) == (403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    assert runtime.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    metrics = httpx.get(daemon.url + "/metrics", timeout=10)
    assert error_of(metrics)[:2] == (400, "MissingAuthenticationTokenException")
    assert httpx.get(daemon.url + "/metrics", auth=daemon.auth, timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("case", "code", "message"),
    [
        ("unsigned", "MissingAuthenticationTokenException", "Missing Authentication Token"),
        ("unknown key", "UnrecognizedClientException", "The security token included in the request is invalid."),
        ("wrong secret", "InvalidSignatureException", BAD_SIGNATURE),
        (
            "wrong region",
            "InvalidSignatureException",
            "Credential should be scoped to a valid region, not 'eu-west-1'. ",
        ),
    ],
)
def test_boto3_sees_each_refusal_as_a_client_error_with_aws_code(
    daemon: DaemonHandle, case: str, code: str, message: str
) -> None:
    creds = daemon.credentials
    kw: dict[str, Any] = {
        "unsigned": {"config": Config(signature_version=UNSIGNED, retries={"max_attempts": 1})},
        "unknown key": {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE"},
        "wrong secret": {"aws_secret_access_key": creds.secret_access_key[::-1]},
        "wrong region": {"region_name": "eu-west-1"},
    }[case]
    sm, rt = clients(daemon, **kw)
    with pytest.raises(ClientError) as control:
        sm.list_models()
    with pytest.raises(ClientError) as runtime:
        rt.invoke_endpoint(EndpointName="any", Body=b"1,2", ContentType="text/csv")
    for exc, status in ((control, 400), (runtime, 403)):
        err = exc.value.response
        assert (err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]) == (
            code,
            message,
            status,
        )


def test_a_garbage_authorization_header_is_an_incomplete_signature(daemon: DaemonHandle) -> None:
    expected = (
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter."
        " Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of"
        " either a 'X-Amz-Date' or a 'Date' header. Authorization=Bearer"
    )
    control = post(daemon, "/", b"{}", {**LIST_MODELS, "Authorization": "Bearer"})
    assert error_of(control) == (400, "IncompleteSignatureException", expected)
    runtime = post(daemon, "/endpoints/any/invocations", b"x", {"Authorization": "Bearer"})
    assert error_of(runtime) == (403, "IncompleteSignatureException", expected)


def test_a_signature_for_another_service_is_refused(daemon: DaemonHandle) -> None:
    resp = post(daemon, "/", b"{}", sign(daemon, "/", service="s3"))
    assert error_of(resp) == (
        400,
        "InvalidSignatureException",
        "Credential should be scoped to correct service: 'sagemaker'. ",
    )


@pytest.mark.parametrize(("minutes", "words"), [(-6, "Signature expired"), (6, "Signature not yet current")])
def test_a_skewed_date_is_refused(
    daemon: DaemonHandle, monkeypatch: pytest.MonkeyPatch, minutes: int, words: str
) -> None:
    skewed = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=minutes)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: skewed)
    for path, body, headers, status in (
        ("/", b"{}", LIST_MODELS, 400),
        ("/endpoints/any/invocations", b"x", {"Content-Type": "text/csv"}, 403),
    ):
        got_status, code, message = error_of(post(daemon, path, body, sign(daemon, path, body, headers)))
        assert (got_status, code) == (status, "InvalidSignatureException")
        assert re.fullmatch(
            rf"{words}: \d{{8}}T\d{{6}}Z is (now earlier|still later) than \d{{8}}T\d{{6}}Z \(.* 5 min\.\)", message
        )


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_a_foreign_host_is_refused_on_both_planes(daemon: DaemonHandle, signed: bool) -> None:
    for path, body, headers, status_line in (
        ("/", b"{}", LIST_MODELS, "control"),
        ("/endpoints/any/invocations", b"x", {"Content-Type": "text/csv"}, "runtime"),
    ):
        sent = sign(daemon, path, body, headers, host="evil.example") if signed else {**headers, "Host": "evil.example"}
        status, code, message = error_of(post(daemon, path, body, sent))
        assert (status, code) == (403, "AccessDeniedException"), status_line
        assert message.startswith("Host 'evil.example' is not allowed")
    ping = httpx.get(daemon.url + "/ping", headers={"Host": "evil.example:80"}, timeout=10)
    assert ping.status_code == 403 and "homeId" not in ping.text


@pytest.mark.parametrize("host", ["localhost:{port}", "localhost", "127.0.0.2:{port}", "[::1]:{port}"])
def test_loopback_host_names_are_served(daemon: DaemonHandle, host: str) -> None:
    value = host.format(port=daemon.port)
    resp = post(daemon, "/", b"{}", sign(daemon, "/", host=value))
    assert resp.status_code == 200, resp.text


def test_a_foreign_origin_and_any_preflight_are_refused(daemon: DaemonHandle) -> None:
    page = {"Origin": "https://evil.example"}
    status, code, message = error_of(post(daemon, "/", b"{}", {**sign(daemon, "/"), **page}))
    assert (status, code, message) == (
        403,
        "AccessDeniedException",
        "Origin 'https://evil.example' is not allowed (INFERPIPE_ALLOWED_ORIGINS).",
    )
    simple = post(daemon, "/endpoints/any/invocations", b"x", {"Content-Type": "text/plain", **page})
    assert error_of(simple)[:2] == (403, "AccessDeniedException")
    assert "Access-Control-Allow-Origin" not in simple.headers
    for path in ("/", "/endpoints/any/invocations"):
        for headers in (page, {**page, "Access-Control-Request-Method": "POST"}, {}):
            pre = httpx.options(daemon.url + path, headers=headers, timeout=10)
            assert pre.status_code == 403, (path, headers)
            assert not any(h.lower().startswith("access-control-") for h in pre.headers)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json",
     "application/x-amz-json-1.0", None],
)  # fmt: skip
def test_the_control_plane_takes_only_json_11_and_changes_nothing_otherwise(
    daemon: DaemonHandle, sm: Any, content_type: str | None
) -> None:
    name = f"ct-{abs(hash(content_type)) % 10**8}"
    body = json.dumps({"ModelName": name, "PrimaryContainer": {"Image": "x:1"}}).encode()
    headers = {"X-Amz-Target": "SageMaker.CreateModel", **({"Content-Type": content_type} if content_type else {})}
    status, code, message = error_of(post(daemon, "/", body, sign(daemon, "/", body, headers)))
    assert (status, code) == (400, "UnknownOperationException")
    assert message.endswith("is not supported: the SageMaker API takes application/x-amz-json-1.1.")
    with pytest.raises(ClientError):
        sm.describe_model(ModelName=name)


def test_json_11_with_parameters_is_accepted(daemon: DaemonHandle) -> None:
    headers = {**LIST_MODELS, "Content-Type": f"{JSON_11}; charset=utf-8"}
    assert post(daemon, "/", b"{}", sign(daemon, "/", b"{}", headers)).status_code == 200


def test_shutdown_is_refused_unless_signed(daemon: DaemonHandle) -> None:
    shutdown = {"X-Amz-Target": "Inferpipe.Shutdown", "Content-Type": JSON_11}
    assert error_of(post(daemon, "/", b"{}", shutdown))[:2] == (400, "MissingAuthenticationTokenException")
    # what a web page could send: a "simple" POST, no preflight
    assert error_of(post(daemon, "/", b"{}", {**shutdown, "Content-Type": "text/plain"}))[:2] == (
        400,
        "UnknownOperationException",
    )
    assert error_of(post(daemon, "/", b"{}", {**shutdown, "Origin": "http://localhost:3000"}))[0] == 403
    assert daemon.proc is not None and daemon.proc.poll() is None
    assert daemon.cli_json("daemon", "status")["pid"] == daemon.proc.pid


def test_a_body_over_the_servers_limit_is_refused_in_each_planes_words(daemon: DaemonHandle) -> None:
    big = b"x" * (8 * 1024 * 1024)
    # the size limits apply first, from Content-Length, so an unsigned body is refused unread too
    unsigned = post(daemon, "/endpoints/any/invocations", big, {"Content-Type": "text/csv"})
    assert error_of(unsigned)[:2] == (400, "ValidationError")
    for path, headers, expected in (
        ("/endpoints/any/invocations", {"Content-Type": "text/csv"}, (400, "ValidationError")),
        ("/", LIST_MODELS, (413, "ValidationException")),
    ):
        status, code, message = error_of(post(daemon, path, big, sign(daemon, path, big, headers)))
        assert (status, code) == expected
        assert re.search(r"exceeds the (maximum|control plane's limit) of \d+ bytes", message)


def test_ping_says_only_that_the_daemon_lives_and_for_which_home(daemon: DaemonHandle) -> None:
    ping = httpx.get(daemon.url + "/ping", timeout=10).json()
    assert ping == {"status": "ok", "homeId": daemon.home_id, "instanceId": ping["instanceId"]}
    assert re.fullmatch(r"[0-9a-f]{32}", ping["instanceId"])  # random: says nothing of the machine


def test_a_presigned_url_works_and_cannot_be_stretched(daemon: DaemonHandle) -> None:
    c = daemon.credentials
    req = AWSRequest("GET", daemon.url + "/metrics")
    SigV4QueryAuth(BotocoreCredentials(c.access_key_id, c.secret_access_key), "sagemaker", c.region, 60).add_auth(req)
    assert "X-Amz-Signature=" in req.url
    resp = httpx.get(req.url, timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain")
    tampered = httpx.get(req.url.replace("X-Amz-Expires=60", "X-Amz-Expires=600"), timeout=10)
    assert error_of(tampered) == (400, "InvalidSignatureException", BAD_SIGNATURE)


def test_the_credentials_file_is_owner_only(daemon: DaemonHandle) -> None:
    st = credentials.path_in(daemon.home).stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.getuid()
    data = json.loads(credentials.path_in(daemon.home).read_text())
    assert set(data) == {"Version", "AccessKeyId", "SecretAccessKey", "Region"} and data["Version"] == 1


# settings --------------------------------------------------------------------------------------------
@pytest.fixture
def open_daemon() -> Iterator[DaemonHandle]:
    d = make_daemon(
        INFERPIPE_AUTH="none",
        INFERPIPE_ALLOWED_HOSTS="inferpipe.test",
        INFERPIPE_ALLOWED_ORIGINS="http://localhost:3000",
    )
    d.start()
    yield d
    cleanup(d)


def test_auth_none_serves_unsigned_requests_and_says_so(open_daemon: DaemonHandle) -> None:
    d = open_daemon
    assert post(d, "/").status_code == 200
    assert post(d, "/endpoints/any/invocations", b"x").json()["Message"].startswith("Endpoint any of account")
    log = (d.home / "daemon.log").read_text()
    assert re.search(r"WARNING inferpipe\.auth: INFERPIPE_AUTH=none: requests are NOT authenticated", log)
    assert not credentials.path_in(d.home).exists()
    # the browser defences stay
    assert post(d, "/", b"{}", {**LIST_MODELS, "Host": "evil.example"}).status_code == 403
    assert post(d, "/", b"{}", {**LIST_MODELS, "Origin": "https://evil.example"}).status_code == 403
    assert post(d, "/", b"{}", {**LIST_MODELS, "Content-Type": "text/plain"}).status_code == 400


def test_allowed_hosts_and_origins_widen_the_defences(open_daemon: DaemonHandle) -> None:
    d = open_daemon
    assert post(d, "/", b"{}", {**LIST_MODELS, "Host": "inferpipe.test:1234"}).status_code == 200
    origin = {"Origin": "http://localhost:3000"}
    resp = post(d, "/", b"{}", {**LIST_MODELS, **origin})
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "x-amzn-RequestId" in resp.headers["Access-Control-Expose-Headers"]
    pre = httpx.options(
        d.url + "/",
        headers={**origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-amz-target"},
        timeout=10,
    )
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert pre.headers["Access-Control-Allow-Headers"] == "x-amz-target"
    assert httpx.options(d.url + "/", headers={"Origin": "http://localhost:4000"}, timeout=10).status_code == 403


def test_an_unknown_auth_mode_keeps_the_daemon_from_starting(tmp_path: Path) -> None:
    env = dict(os.environ, INFERPIPE_HOME=str(tmp_path), INFERPIPE_PORT=str(free_port()), INFERPIPE_AUTH="off")
    proc = subprocess.run(
        [sys.executable, "-m", "inferpipe.core.daemon"], env=env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2
    assert "INFERPIPE_AUTH='off' is not one of: sigv4, none." in proc.stderr


# what works with no setup --------------------------------------------------------------------------
BOTO3_SCRIPT = """
import json, boto3
from botocore.exceptions import ClientError
sm = boto3.client("sagemaker")
models = [m["ModelName"] for m in sm.list_models(NameContains="{name}")["Models"]]
try:
    boto3.client("sagemaker-runtime").invoke_endpoint(EndpointName="absent", Body=b"1", ContentType="text/csv")
except ClientError as exc:
    runtime = exc.response["Error"]["Code"]
print(json.dumps({{"models": models, "runtime": runtime, "url": sm.meta.endpoint_url}}))
"""


def test_daemon_env_is_all_plain_boto3_needs(daemon: DaemonHandle, sm: Any, tmp_path: Path) -> None:
    sm.create_model(ModelName="env-probe", PrimaryContainer={"Image": "x:1"})
    shell = run(daemon.env, "daemon", "env")
    assert shell.returncode == 0, shell.stderr
    as_json = json.loads(run(daemon.env, "daemon", "env", "--output", "json").stdout)
    exports = dict(
        shlex.split(line.removeprefix("export "))[0].split("=", 1)
        for line in shell.stdout.splitlines()
        if line.startswith("export ")
    )
    assert exports == as_json
    c = daemon.credentials
    assert as_json == {
        "AWS_ENDPOINT_URL_SAGEMAKER": daemon.url,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": daemon.url,
        "AWS_ACCESS_KEY_ID": c.access_key_id,
        "AWS_SECRET_ACCESS_KEY": c.secret_access_key,
        "AWS_DEFAULT_REGION": c.region,
        "AWS_REGION": c.region,
    }
    assert "unset AWS_SESSION_TOKEN" in shell.stdout
    got = python(as_json, BOTO3_SCRIPT.format(name="env-probe"))
    assert got == {"models": ["env-probe"], "runtime": "ValidationError", "url": daemon.url}
    # and through a shell that evaluates the exports, starting from an empty environment
    script = tmp_path / "exports.sh"
    script.write_text(shell.stdout)
    proc = subprocess.run(
        [
            "env",
            "-i",
            "bash",
            "-c",
            f'eval "$(cat {script})"; exec {sys.executable} -c "$0"',
            BOTO3_SCRIPT.format(name="env-probe"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["models"] == ["env-probe"]


def test_a_named_profile_keeps_real_aws_credentials_beside(daemon: DaemonHandle, tmp_path: Path) -> None:
    cfg, cred = tmp_path / "aws-config", tmp_path / "aws-credentials"
    cfg.write_text("[default]\nregion = eu-central-1\n")
    cred.write_text("[default]\naws_access_key_id = AKIAREALREALREALREAL\naws_secret_access_key = real\n")
    files = {"AWS_CONFIG_FILE": str(cfg), "AWS_SHARED_CREDENTIALS_FILE": str(cred)}
    printed = run({**daemon.env, **files}, "daemon", "env", "--profile", "inferpipe")
    assert printed.returncode == 0, printed.stderr
    assert "[profile inferpipe]" in printed.stdout and f"endpoint_url = {daemon.url}" in printed.stdout
    assert "AKIAREAL" not in cfg.read_text() + printed.stdout  # printing writes nothing
    written = run({**daemon.env, **files}, "daemon", "env", "--profile", "inferpipe", "--write", "--output", "json")
    assert written.returncode == 0, written.stderr
    assert json.loads(written.stdout) == {"Profile": "inferpipe", "ConfigFile": str(cfg), "CredentialsFile": str(cred)}
    assert stat.S_IMODE(cred.stat().st_mode) == 0o600
    by_variable = python({**files, "AWS_PROFILE": "inferpipe"}, BOTO3_SCRIPT.format(name="nothing-matches"))
    assert by_variable == {"models": [], "runtime": "ValidationError", "url": daemon.url}
    both = python(
        files,
        "import json, boto3\n"
        "local = boto3.Session(profile_name='inferpipe')\n"
        "local.client('sagemaker').list_models()\n"
        "real = boto3.Session()\n"
        "print(json.dumps([real.get_credentials().access_key, real.region_name,"
        " real.client('s3').meta.endpoint_url, local.client('sagemaker').meta.endpoint_url]))",
    )
    assert both == ["AKIAREALREALREALREAL", "eu-central-1", "https://s3.eu-central-1.amazonaws.com", daemon.url]


@pytest.fixture
def user_shell(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A user's shell: a home of its own, nothing running, no INFERPIPE_URL and no AWS variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFERPIPE_", "AWS_"))}
    env.update(INFERPIPE_HOME=str(tmp_path / "home"), INFERPIPE_PORT=str(free_port()))
    yield env
    assert run(env, "daemon", "stop").returncode == 0
    shutil.rmtree(tmp_path / "home", ignore_errors=True)


def test_the_cli_signs_by_itself_with_no_setup(user_shell: dict[str, str]) -> None:
    assert run(user_shell, "create-model", "--model-name", "signed", "--container", "image=x:1").returncode == 0
    assert [m["ModelName"] for m in json.loads(run(user_shell, "list-models").stdout)["Models"]] == ["signed"]
    for args in (
        ("invoke", "absent", "--body", "1"),
        ("invoke-endpoint", "--endpoint-name", "absent", "--body", "1", "-"),
    ):
        result = run(user_shell, *args)  # the standard-library fast path: the daemon runs and left its pid file
        assert result.returncode == 254
        assert result.stderr.startswith(
            "An error occurred (ValidationError) when calling the InvokeEndpoint operation:"
        )


def test_a_daemon_whose_home_is_unreadable_takes_the_aws_environment(daemon: DaemonHandle, tmp_path: Path) -> None:
    c = daemon.credentials
    base = {k: v for k, v in os.environ.items() if not k.startswith(("INFERPIPE_", "AWS_"))}
    base.update(INFERPIPE_URL=daemon.url, INFERPIPE_HOME=str(tmp_path / "not-that-home"))
    with_keys = {**base, "AWS_ACCESS_KEY_ID": c.access_key_id, "AWS_SECRET_ACCESS_KEY": c.secret_access_key}
    assert run(with_keys, "list-models").returncode == 0
    assert "(ValidationError)" in run(with_keys, "invoke", "absent", "--body", "1").stderr
    for args in (("list-models",), ("invoke", "absent", "--body", "1")):
        result = run(base, *args)
        assert result.returncode == 254
        assert (
            "(MissingAuthenticationTokenException)" in result.stderr and "Missing Authentication Token" in result.stderr
        )


@pytest.mark.skipif(
    "--aws-sigv4" not in subprocess.run(["curl", "--help", "all"], capture_output=True, text=True).stdout,
    reason="this curl cannot sign (7.75 or later can)",
)
def test_curl_aws_sigv4_reaches_the_runtime(daemon: DaemonHandle) -> None:
    # the demo's hint, verbatim but for the endpoint
    hint = (
        'eval "$(inferpipe daemon env)"; curl -s -w "\\n%{http_code}" --aws-sigv4 "aws:amz:us-east-1:sagemaker"'
        ' --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -X POST'
        ' "$AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME/endpoints/absent/invocations" -H "Content-Type: text/csv"'
        " --data-binary 1,2"
    )
    env = {**daemon.env, "PATH": f"{Path(EXE).parent}:{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "-c", hint], env=env, capture_output=True, text=True, timeout=60)
    body, status = proc.stdout.rsplit("\n", 1)
    assert (status, json.loads(body)) == ("400", {"Message": "Endpoint absent of account 000000000000 not found."})
    wrong = subprocess.run(
        ["bash", "-c", hint.replace(":$AWS_SECRET_ACCESS_KEY", ":wrong")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    body, status = wrong.stdout.rsplit("\n", 1)
    assert (status, json.loads(body)) == ("403", {"Message": BAD_SIGNATURE})
