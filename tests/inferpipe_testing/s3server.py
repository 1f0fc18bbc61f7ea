"""A real S3 HTTP endpoint for tests and the bench: moto's standalone server in a subprocess, with
IAM enforcement on so "access denied" is S3's real answer, not a simulation.

Authentication: the server starts with INITIAL_NO_AUTH_ACTION_COUNT=3, so exactly the three IAM
calls that create the `admin` user (allowed everything) go unauthenticated; every request after
them must be signed by an IAM user's key. The `daemon` user, whose keys the daemon under test gets,
may do anything in S3 except touch keys under a `forbidden/` prefix (an explicit Deny), which is
how tests get a real AccessDenied.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from .daemon import free_port

REGION = "us-east-1"
FORBIDDEN_PREFIX = "forbidden/"
_ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
_DAEMON_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:*", "Resource": f"arn:aws:s3:::*/{FORBIDDEN_PREFIX}*"},
    ],
}


@dataclass
class Keys:
    access_key_id: str
    secret_access_key: str

    def boto(self) -> dict[str, str]:
        return {"aws_access_key_id": self.access_key_id, "aws_secret_access_key": self.secret_access_key}


@dataclass
class MotoS3:
    host: str
    port: int
    admin: Keys
    daemon: Keys
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The endpoint as the host sees it (127.0.0.1 when it listens on every address)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def client(self, service: str = "s3", keys: Keys | None = None) -> Any:
        """A boto3 client signed as `admin` (or `keys`)."""
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, **(keys or self.admin).boto())

    def daemon_env(self) -> dict[str, str]:
        """What to give a daemon under test (`make_daemon(**s3.daemon_env())`) so its S3 is this server."""
        return {
            "INFERPIPE_S3_ENDPOINT_URL": self.url,
            "INFERPIPE_S3_ACCESS_KEY_ID": self.daemon.access_key_id,
            "INFERPIPE_S3_SECRET_ACCESS_KEY": self.daemon.secret_access_key,
            "INFERPIPE_S3_REGION": REGION,
        }

    def aws_env(self, keys: Keys | None = None) -> dict[str, str]:
        """The standard AWS variables for a tool (aws CLI, an SDK) to reach this server."""
        k = keys or self.admin
        return {
            "AWS_ENDPOINT_URL_S3": self.url,
            "AWS_ACCESS_KEY_ID": k.access_key_id,
            "AWS_SECRET_ACCESS_KEY": k.secret_access_key,
            "AWS_DEFAULT_REGION": REGION,
        }

    def bucket(self, name: str) -> str:
        """Create `name` (if absent) and return it."""
        s3 = self.client()
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=name)
        return name

    def put(self, uri: str, body: bytes | Path) -> str:
        """Write an object (creating its bucket); returns the URI."""
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        self.bucket(bucket)
        data = body.read_bytes() if isinstance(body, Path) else body
        self.client().put_object(Bucket=bucket, Key=key, Body=data)
        return uri

    def get(self, uri: str) -> bytes:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return bytes(self.client().get_object(Bucket=bucket, Key=key)["Body"].read())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server did not listen on port {port} within {timeout} s: {log.read_text()[-2000:]}")


# moto keeps an object over 5 MiB in a temporary file and reads it back whole for every GET and at
# CompleteMultipartUpload; held in memory, its CPU per 128 MiB job fell from 1.85 s to 1.23 s (bench
# s3transform), so the bench measures the daemon's transfers more than moto's spooling.
IN_MEMORY_KEY_BYTES = 4 * 1024 * 1024 * 1024


def start_moto_s3(host: str = "127.0.0.1", in_memory: bool = False) -> MotoS3:
    """Start the server on a free port of `host` (0.0.0.0 when containers must reach it too);
    `in_memory` keeps objects of up to 4 GiB in memory (the bench)."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="moto-s3-", suffix=".log")[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
    if in_memory:
        env["MOTO_S3_DEFAULT_KEY_BUFFER_SIZE"] = str(IN_MEMORY_KEY_BYTES)
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    server = MotoS3(host, port, Keys("", ""), Keys("", ""), proc)
    try:
        _wait_listening(port, proc, log)
        bootstrap = server.client("iam", Keys("bootstrap", "bootstrap"))
        bootstrap.create_user(UserName="admin")
        bootstrap.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=json.dumps(_ALLOW_ALL))
        key = bootstrap.create_access_key(UserName="admin")["AccessKey"]
        server.admin = Keys(key["AccessKeyId"], key["SecretAccessKey"])
        iam = server.client("iam")
        iam.create_user(UserName="daemon")
        iam.put_user_policy(UserName="daemon", PolicyName="s3", PolicyDocument=json.dumps(_DAEMON_POLICY))
        key = iam.create_access_key(UserName="daemon")["AccessKey"]
        server.daemon = Keys(key["AccessKeyId"], key["SecretAccessKey"])
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def moto_s3(host: str = "127.0.0.1", in_memory: bool = False) -> Iterator[MotoS3]:
    server = start_moto_s3(host, in_memory)
    try:
        yield server
    finally:
        server.stop()
