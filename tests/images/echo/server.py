"""A scriptable SageMaker serving container for end-to-end tests (stdlib only).

POST /invocations answers ``<body>|<tag>@<host>`` so a test can read which containers, in which
order and on which instance, handled a request. Behaviour is steered by environment variables
and by commands inside the body, so one image can play every role a test needs:

- ``FAIL:<tag>:<code>`` in the body: the container whose tag matches answers that status;
- ``SLEEP:<ms>`` in the body: every container sleeps that long first;
- ``PING_STATUS``: what GET /ping answers (default 200); ``EXIT_AT_START``: exit with that code;
- ``OUT_CONTENT_TYPE``: the Content-Type it answers with (default: the request's);
- ``SLEEP_MS``: sleep that long on every invocation (a slow model).
GET /stats returns how many invocations it saw and the headers of the last one.
"""

import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TAG = os.environ.get("ECHO_TAG") or os.environ.get("SAGEMAKER_CONTAINER_HOSTNAME", "echo")
HOST = socket.gethostname()
STATS = {
    "invocations": 0,
    "last_headers": {},
    "env": {k: v for k, v in os.environ.items() if k.startswith("SAGEMAKER")},
}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # one short line per request on stdout
        sys.stdout.write(f"{TAG} {self.command} {self.path} {args[1] if len(args) > 1 else ''}\n")
        sys.stdout.flush()

    def _send(self, status, body, content_type="text/plain", extra=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/ping":
            status = int(os.environ.get("PING_STATUS", "200"))
            self._send(status, b"" if status == 200 else b"not ready")
        elif self.path == "/stats":
            with LOCK:
                self._send(200, json.dumps(STATS).encode(), "application/json")
        elif self.path == "/execution-parameters" and os.environ.get("EXECUTION_PARAMETERS"):
            self._send(200, os.environ["EXECUTION_PARAMETERS"].encode(), "application/json")
        else:
            self._send(404, b"not found")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with LOCK:
            STATS["invocations"] += 1
            STATS["last_headers"] = {k: v for k, v in self.headers.items()}
        if os.environ.get("SLEEP_MS"):  # a slow model, for latency alarms
            time.sleep(int(os.environ["SLEEP_MS"]) / 1000)
        text = body.decode(errors="replace")
        for part in text.replace("\n", " ").replace("|", " ").split():
            if part.startswith("SLEEP:"):
                time.sleep(int(part.split(":")[1]) / 1000)
            if part.startswith("FAIL:") and part.split(":")[1] == TAG:
                code = int(part.split(":")[2])
                self._send(code, f"boom from {TAG}".encode())
                return
        content_type = (
            os.environ.get("OUT_CONTENT_TYPE") or self.headers.get("Content-Type") or "application/octet-stream"
        )
        attrs = self.headers.get("X-Amzn-SageMaker-Custom-Attributes")
        extra = {"X-Amzn-SageMaker-Custom-Attributes": f"{attrs};{TAG}"} if attrs else {}
        if os.environ.get("ECHO_RAW"):
            out = body
        else:
            out = body.rstrip(b"\n") + f"|{TAG}@{HOST}".encode() + (b"\n" if body.endswith(b"\n") else b"")
        self._send(200, out, content_type, extra)


def main():
    if os.environ.get("EXIT_AT_START"):
        print(f"{TAG}: exiting at start as asked", flush=True)
        sys.exit(int(os.environ["EXIT_AT_START"]))
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    server.daemon_threads = True
    # PID 1 ignores SIGTERM unless it handles it: stop promptly, as SageMaker expects.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"{TAG} serving on {port}", flush=True)
    # shutdown() returns once serve_forever next looks at its flag: every 50 ms rather than the
    # default 500, so SIGTERM stops the server in tens of milliseconds
    server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
