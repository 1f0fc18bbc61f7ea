"""Raw httpx requests signed by botocore itself rather than by the CLI's own signer, so a raw
request checks the daemon against the reference SigV4 implementation."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials

from inferpipe.core.credentials import Credentials


class SignedByBotocore(httpx.Auth):
    """httpx requests signed with `creds` by botocore's SigV4Auth."""

    requires_request_body = True

    def __init__(self, creds: Credentials) -> None:
        self.creds = creds

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        signed = {
            k: v for k, v in request.headers.items() if k.lower() == "content-type" or k.lower().startswith("x-am")
        }
        aws = AWSRequest(method=request.method, url=str(request.url), data=request.content, headers=signed)
        boto = BotocoreCredentials(self.creds.access_key_id, self.creds.secret_access_key)
        SigV4Auth(boto, "sagemaker", self.creds.region).add_auth(aws)
        request.headers["Authorization"] = aws.headers["Authorization"]
        request.headers["X-Amz-Date"] = aws.headers["X-Amz-Date"]
        yield request
