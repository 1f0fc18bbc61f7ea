"""The SigV4 verifier against requests signed by botocore itself, the CLI's standard-library
signer against botocore's output, the home's credentials file, and the guard's Host rules."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path
from typing import Any

import botocore.auth
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials
from multidict import CIMultiDict

from inferpipe.cli import awsconfig, signing
from inferpipe.core import credentials
from inferpipe.core.api.guard import Policy, split_host
from inferpipe.core.api.sigv4 import (
    BAD_SIGNATURE,
    IncompleteSignature,
    InvalidSignature,
    MissingAuthenticationToken,
    UnrecognizedClient,
    Verifier,
    path_of,
    query_pairs,
)
from inferpipe.core.credentials import Credentials

CREDS = Credentials("IPAKTESTTESTTESTTEST", "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-abcd", "us-east-1")
NOW = dt.datetime(2024, 5, 17, 12, 0, 0, tzinfo=dt.UTC)
HOST = "127.0.0.1:8765"
URL = f"http://{HOST}/endpoints/wine/invocations?b=2&a=x%20y&a=1&flag="
BODY = b"13.2,1.78,2.14\n\x00\xffbinary"


def botocore_signed(
    *,
    url: str = URL,
    body: bytes = BODY,
    creds: Credentials = CREDS,
    service: str = "sagemaker",
    region: str | None = None,
    at: dt.datetime = NOW,
    headers: dict[str, str] | None = None,
    monkeypatch: pytest.MonkeyPatch,
) -> AWSRequest:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: at.replace(tzinfo=None))
    req = AWSRequest("POST", url, data=body, headers=headers or {"Content-Type": "text/csv", "Accept": "text/csv"})
    boto = BotocoreCredentials(creds.access_key_id, creds.secret_access_key)
    SigV4Auth(boto, service, region or creds.region).add_auth(req)
    return req


def arrived(req: AWSRequest, **extra: str) -> CIMultiDict[str]:
    """The headers as the daemon sees them: the signed ones plus what the HTTP client adds."""
    headers: CIMultiDict[str] = CIMultiDict(req.headers.items())
    headers["Host"] = HOST
    headers.add("User-Agent", "Boto3/1.x")
    headers.add("Accept-Encoding", "identity")
    for k, v in extra.items():
        headers[k] = v
    return headers


def check(req: AWSRequest, headers: CIMultiDict[str] | None = None, body: bytes | None = None, **kw: Any) -> None:
    verifier = Verifier(CREDS, clock=kw.pop("clock", lambda: NOW.timestamp()))
    raw_path, _, raw_query = req.url.split(HOST, 1)[1].partition("?")
    query = query_pairs(kw.pop("query", raw_query))
    headers = arrived(req) if headers is None else headers
    claim = verifier.inspect(headers, query)
    verifier.verify(
        claim, req.method, path_of(kw.pop("path", raw_path)), query, headers, req.body if body is None else body
    )


def test_a_request_botocore_signed_with_a_body_and_a_query_string_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    check(botocore_signed(monkeypatch=monkeypatch))


def test_a_request_signed_with_a_date_header_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    req = botocore_signed(
        monkeypatch=monkeypatch, headers={"Content-Type": "text/csv", "Date": "Fri, 17 May 2024 12:00:00 GMT"}
    )
    assert "X-Amz-Date" not in req.headers
    check(req)


@pytest.mark.parametrize(
    ("what", "change"),
    [
        ("body", {"body": BODY + b"!"}),
        ("path", {"path": "/endpoints/wind/invocations"}),
        ("query", {"query": "b=3&a=x%20y&a=1&flag="}),
    ],
)
def test_any_change_to_what_was_signed_breaks_the_signature(
    monkeypatch: pytest.MonkeyPatch, what: str, change: dict[str, Any]
) -> None:
    with pytest.raises(InvalidSignature) as exc:
        check(botocore_signed(monkeypatch=monkeypatch), **change)
    assert exc.value.message == BAD_SIGNATURE


def test_a_changed_signed_header_breaks_it_and_an_unsigned_one_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    req = botocore_signed(monkeypatch=monkeypatch)
    check(req, arrived(req, **{"User-Agent": "something else", "X-Forwarded-For": "1.2.3.4"}))
    with pytest.raises(InvalidSignature):
        check(req, arrived(req, **{"Content-Type": "application/json"}))
    headers = arrived(req)
    del headers["Accept"]
    with pytest.raises(InvalidSignature):
        check(req, headers)  # a signed header that never arrived


def test_a_declared_body_hash_must_be_the_bodys(monkeypatch: pytest.MonkeyPatch) -> None:
    honest = botocore_signed(
        monkeypatch=monkeypatch,
        headers={"Content-Type": "text/csv", "X-Amz-Content-SHA256": signing.payload_hash(BODY)},
    )
    check(honest)
    # botocore signs the declared hash instead of the body; a server trusting it would accept any body
    lying = botocore_signed(
        monkeypatch=monkeypatch, headers={"Content-Type": "text/csv", "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    )
    with pytest.raises(InvalidSignature, match="x-amz-content-sha256"):
        check(lying)


def test_no_signature_at_all_is_a_missing_token() -> None:
    with pytest.raises(MissingAuthenticationToken) as exc:
        Verifier(CREDS).inspect(CIMultiDict({"Host": HOST}), [])
    assert (exc.value.code, exc.value.message, exc.value.status, exc.value.rest_status) == (
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
        400,
        403,
    )


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            "garbage",
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature'"
            " parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=garbage",
        ),
        (
            "AWS4-HMAC-SHA256 Credential= IPAK/20240517/us-east-1/sagemaker/aws4_request,"
            " SignedHeaders=host, Signature=0",
            "'IPAK/20240517/us-east-1/sagemaker/aws4_request' not a valid key=value pair (missing equal-sign) in"
            " Authorization header: 'AWS4-HMAC-SHA256 Credential= IPAK/20240517/us-east-1/sagemaker/aws4_request,"
            " SignedHeaders=host, Signature=0'.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=IPAK/20240517/us-east-1/sagemaker, SignedHeaders=host, Signature=0",
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term,"
            " got 'IPAK/20240517/us-east-1/sagemaker'",
        ),
        (
            "Bearer Credential=a, SignedHeaders=host, Signature=0",
            "Unsupported signing algorithm 'Bearer': the daemon verifies AWS4-HMAC-SHA256 (Signature Version 4).",
        ),
    ],
)
def test_a_malformed_header_is_an_incomplete_signature(header: str, message: str) -> None:
    headers = CIMultiDict({"Host": HOST, "Authorization": header, "X-Amz-Date": "20240517T120000Z"})
    with pytest.raises(IncompleteSignature) as exc:
        Verifier(CREDS, clock=lambda: NOW.timestamp()).inspect(headers, [])
    assert exc.value.message == message


def test_non_ascii_key_or_signature_is_refused_not_crashed(monkeypatch: pytest.MonkeyPatch) -> None:
    req = botocore_signed(monkeypatch=monkeypatch)
    for old, new in ((CREDS.access_key_id, "IPAKTESTTESTTESTTESé"), ("Signature=", "Signature=é")):
        headers = arrived(req, Authorization=req.headers["Authorization"].replace(old, new))
        with pytest.raises((UnrecognizedClient, InvalidSignature)):
            check(req, headers)


def test_unknown_key_and_wrong_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnrecognizedClient) as exc:
        check(
            botocore_signed(monkeypatch=monkeypatch, creds=Credentials("IPAKSOMEONEELSE00000", CREDS.secret_access_key))
        )
    assert exc.value.message == "The security token included in the request is invalid."
    with pytest.raises(InvalidSignature) as bad:
        check(botocore_signed(monkeypatch=monkeypatch, creds=Credentials(CREDS.access_key_id, "wrong")))
    assert bad.value.message == BAD_SIGNATURE


def test_scope_must_name_this_service_and_the_daemons_region(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidSignature) as exc:
        check(botocore_signed(monkeypatch=monkeypatch, service="s3"))
    assert exc.value.message == "Credential should be scoped to correct service: 'sagemaker'. "
    with pytest.raises(InvalidSignature) as exc:
        check(botocore_signed(monkeypatch=monkeypatch, region="eu-west-1"))
    assert exc.value.message == "Credential should be scoped to a valid region, not 'eu-west-1'. "


@pytest.mark.parametrize(
    ("offset", "ok", "message"),
    [
        (-299, True, ""),
        (299, True, ""),
        (
            -301,
            False,
            "Signature expired: 20240517T115459Z is now earlier than 20240517T115500Z (20240517T120000Z - 5 min.)",
        ),
        (
            301,
            False,
            "Signature not yet current: 20240517T120501Z is still later than 20240517T120500Z"
            " (20240517T120000Z + 5 min.)",
        ),
    ],
)
def test_five_minutes_of_clock_skew_either_way(
    monkeypatch: pytest.MonkeyPatch, offset: int, ok: bool, message: str
) -> None:
    req = botocore_signed(monkeypatch=monkeypatch, at=NOW + dt.timedelta(seconds=offset))
    if ok:
        check(req)
        return
    with pytest.raises(InvalidSignature) as exc:
        check(req)
    assert exc.value.message == message


def test_presigned_query_string_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    req = AWSRequest("GET", f"http://{HOST}/metrics?name=x")
    SigV4QueryAuth(
        BotocoreCredentials(CREDS.access_key_id, CREDS.secret_access_key), "sagemaker", "us-east-1", 60
    ).add_auth(req)
    headers: CIMultiDict[str] = CIMultiDict({"Host": HOST})
    check(req, headers, b"")
    with pytest.raises(InvalidSignature, match="Signature expired"):
        check(req, headers, b"", clock=lambda: NOW.timestamp() + 61)
    with pytest.raises(InvalidSignature):
        check(req, headers, b"", query=req.url.partition("?")[2].replace("name=x", "name=y"))


def test_the_clis_signer_writes_exactly_botocores_header(monkeypatch: pytest.MonkeyPatch) -> None:
    for url, headers in [
        (URL, {"Content-Type": "text/csv", "Accept": "text/csv"}),
        (f"http://{HOST}/", {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.ListModels"}),
        (f"http://{HOST}/endpoints/a-b/invocations", {"X-Amzn-SageMaker-Custom-Attributes": "  a   b  "}),
    ]:
        expected = botocore_signed(monkeypatch=monkeypatch, url=url, headers=headers)
        ours = signing.sign("POST", url, {"Host": HOST, **headers}, BODY, CREDS, now=NOW)
        assert ours == {
            "X-Amz-Date": expected.headers["X-Amz-Date"],
            "Authorization": expected.headers["Authorization"],
        }


def test_host_header_as_clients_send_it() -> None:
    assert signing.host_header("http://127.0.0.1:8765") == "127.0.0.1:8765"
    assert signing.host_header("http://localhost:80/x") == "localhost"
    assert signing.host_header("http://[::1]:9000") == "[::1]:9000"


# credentials file ----------------------------------------------------------------------------------
def test_credentials_are_created_owner_only_and_kept(tmp_path: Path) -> None:
    home = tmp_path / "home"
    creds, warnings = credentials.ensure(home, "us-east-1")
    path = credentials.path_in(home)
    assert warnings == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert creds.access_key_id.startswith("IPAK") and len(creds.access_key_id) == 20
    assert len(creds.secret_access_key) == 40
    assert credentials.ensure(home, "us-east-1")[0] == creds
    assert credentials.load(home) == creds
    assert [p.name for p in home.iterdir()] == ["credentials"]  # no temporary file left behind


def test_region_follows_the_daemon_and_the_keys_stay(tmp_path: Path) -> None:
    first, _ = credentials.ensure(tmp_path, "us-east-1")
    moved, _ = credentials.ensure(tmp_path, "eu-west-1")
    assert (moved.access_key_id, moved.secret_access_key, moved.region) == (
        first.access_key_id,
        first.secret_access_key,
        "eu-west-1",
    )
    assert credentials.load(tmp_path) == moved
    assert stat.S_IMODE(credentials.path_in(tmp_path).stat().st_mode) == 0o600


def test_a_widened_file_is_narrowed_with_a_warning(tmp_path: Path) -> None:
    credentials.ensure(tmp_path, "us-east-1")
    os.chmod(credentials.path_in(tmp_path), 0o644)
    _, warnings = credentials.ensure(tmp_path, "us-east-1")
    assert len(warnings) == 1 and "was readable by others (mode 644)" in warnings[0]
    assert stat.S_IMODE(credentials.path_in(tmp_path).stat().st_mode) == 0o600


def test_a_link_or_garbage_in_place_of_the_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("{}")
    credentials.path_in(tmp_path).symlink_to(target)
    with pytest.raises(credentials.InsecureCredentials, match="not a regular file"):
        credentials.ensure(tmp_path, "us-east-1")
    credentials.path_in(tmp_path).unlink()
    credentials.path_in(tmp_path).write_text("not json")
    os.chmod(credentials.path_in(tmp_path), 0o600)
    with pytest.raises(credentials.InsecureCredentials, match="not a credentials file"):
        credentials.ensure(tmp_path, "us-east-1")


def test_the_client_prefers_the_home_then_the_aws_environment(tmp_path: Path) -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIAREAL", "AWS_SECRET_ACCESS_KEY": "real", "AWS_DEFAULT_REGION": "eu-west-1"}
    assert credentials.for_client(tmp_path, env) == Credentials("AKIAREAL", "real", "eu-west-1")
    assert credentials.for_client(tmp_path, {}) is None
    own, _ = credentials.ensure(tmp_path, "us-east-1")
    assert credentials.for_client(tmp_path, env) == own


# guard and AWS config ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:8765", True),
        ("127.0.0.1", True),
        ("127.1.2.3:80", True),
        ("localhost:8765", True),
        ("LOCALHOST", True),
        ("localhost.", True),
        ("[::1]:8765", True),
        ("[::1]", True),
        ("inferpipe.test", True),  # in the allow-list
        ("proxy.test:8080", True),  # allowed with this port only
        ("proxy.test:8081", False),
        ("evil.example", False),
        ("evil.example:8765", False),
        ("localhost.evil.example", False),
        ("127.0.0.1.nip.io", False),
        ("10.0.0.1:8765", False),
        ("0.0.0.0:8765", False),
        ("::1", False),  # unbracketed IPv6 is not a Host value
        ("[::1]x", False),
        ("127.0.0.1:port", False),
        ("", False),
        (None, False),
    ],
)
def test_host_rules(host: str | None, allowed: bool) -> None:
    policy = Policy(None, frozenset({"inferpipe.test", "proxy.test:8080"}))
    assert policy.host_allowed(host) is allowed


def test_split_host() -> None:
    assert split_host("[::1]:80") == ("::1", "80")
    assert split_host("Example.COM") == ("example.com", "")


def test_writing_a_profile_keeps_the_users_other_sections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, cred = tmp_path / "config", tmp_path / "credentials"
    cfg.write_text("# mine\n[default]\nregion = eu-west-1\n\n[profile inferpipe]\nregion = old\nstale = 1\n")
    cred.write_text("[default]\naws_access_key_id = AKIAREAL\naws_secret_access_key = real\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(cred))
    for _ in range(2):  # writing twice replaces, never duplicates
        awsconfig.write_profile("inferpipe", "http://127.0.0.1:8765", CREDS)
    text = cfg.read_text()
    assert text.startswith("# mine\n[default]\nregion = eu-west-1\n")
    assert text.count("[profile inferpipe]") == 1 and "stale" not in text and "region = old" not in text
    assert "[services inferpipe-inferpipe]\nsagemaker =\n  endpoint_url = http://127.0.0.1:8765\n" in text
    keys = cred.read_text()
    assert "aws_access_key_id = AKIAREAL" in keys and keys.count(f"aws_access_key_id = {CREDS.access_key_id}") == 1
    assert stat.S_IMODE(cred.stat().st_mode) == 0o600
