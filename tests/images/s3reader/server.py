"""A serving container whose own code reads S3, as SageMaker's framework containers fetch their
code from SAGEMAKER_SUBMIT_DIRECTORY (stdlib only: SigV4 signed by hand).

POST /invocations with the body ``bucket/key`` answers the object's bytes, read from
$AWS_ENDPOINT_URL_S3 with $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY / $AWS_SESSION_TOKEN in
$AWS_REGION; an S3 error is answered with S3's status and body.
"""

import datetime
import hashlib
import hmac
import os
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def signed_get(url, region, access_key, secret_key, token):
    parts = urllib.parse.urlsplit(url)
    now = datetime.datetime.now(datetime.UTC)
    amz_date, date = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload = hashlib.sha256(b"").hexdigest()
    headers = {"host": parts.netloc, "x-amz-content-sha256": payload, "x-amz-date": amz_date}
    if token:
        headers["x-amz-security-token"] = token
    names = ";".join(sorted(headers))
    canonical = "\n".join(
        [
            "GET",
            urllib.parse.quote(parts.path, safe="/~"),
            parts.query,
            "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)),
            names,
            payload,
        ]
    )
    scope = f"{date}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret_key).encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={names}, Signature={signature}"
    )
    del headers["host"]
    return urllib.request.Request(url, headers=headers, method="GET")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._send(200 if self.path == "/ping" else 404, b"")

    def do_POST(self):
        where = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode().strip()
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3", "")
        if not endpoint or not os.environ.get("AWS_ACCESS_KEY_ID"):
            self._send(500, b"no S3 endpoint or credentials in the environment")
            return
        request = signed_get(
            f"{endpoint.rstrip('/')}/{where}",
            os.environ.get("AWS_REGION", "us-east-1"),
            os.environ["AWS_ACCESS_KEY_ID"],
            os.environ["AWS_SECRET_ACCESS_KEY"],
            os.environ.get("AWS_SESSION_TOKEN"),
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                self._send(200, response.read())
        except urllib.error.HTTPError as exc:
            self._send(exc.code, exc.read())
        except OSError as exc:
            self._send(502, f"cannot reach {endpoint}: {exc}".encode())


if __name__ == "__main__":
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    print(f"s3reader serving on {port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
