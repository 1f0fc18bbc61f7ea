"""The daemon's lifecycle as a user meets it: `daemon stop` signals only a daemon it verified as
this home's, a bad port is one line, the home and its files are owner-only, and a broken state.db
or home is one clear line from both the daemon and the CLI."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import DaemonHandle, cleanup, free_port, make_daemon

from inferpipe.core.daemon_identity import DaemonIdentity, process_start_time
from inferpipe.core.store import Store

EXE = str(Path(sys.executable).parent / "inferpipe")
DAEMON = [sys.executable, "-m", "inferpipe.core.daemon"]
NOBODY = 65534


def user_env(home: Path, port: int | None = None) -> dict[str, str]:
    """A user's shell: this home, nothing running yet, no INFERPIPE_URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFERPIPE_", "AWS_"))}
    env.update(INFERPIPE_HOME=str(home), INFERPIPE_PORT=str(port or free_port()))
    return env


def run(cmd: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd="/")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def one_error_line(stderr: str) -> str:
    """The daemon's log on a failed start: no traceback, exactly one ERROR line; its message."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, stderr
    return errors[0].split(" ERROR ", 1)[1]


@pytest.fixture
def home() -> Iterator[Path]:
    # Not under pytest's tmp_path, which is private to its user: some tests hand the home to another.
    parent = Path(tempfile.mkdtemp(prefix="inferpipe-life-"))
    os.chmod(parent, 0o755)
    path = parent / "home"
    yield path
    env = user_env(path)
    record = DaemonIdentity.load(path / "daemon.json")
    if record is not None:
        env["INFERPIPE_PORT"] = str(record.port)
        run([EXE, "daemon", "stop"], env)
    shutil.rmtree(parent, ignore_errors=True)


# the port ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("port", "message"),
    [
        ("70000", "INFERPIPE_PORT=70000 is out of range: expected an integer from 1 to 65535."),
        ("abc", "INFERPIPE_PORT='abc' is not valid: expected an integer from 1 to 65535."),
    ],
)
def test_a_bad_port_is_one_line_and_nothing_starts(home: Path, port: str, message: str) -> None:
    env = dict(user_env(home), INFERPIPE_PORT=port)
    cli = run([EXE, "list-models"], env)
    assert (cli.returncode, cli.stdout, cli.stderr) == (253, "", f"inferpipe: {message}\n")
    for command in (["daemon", "start"], ["daemon", "stop"], ["invoke", "ep", "--body", "x"]):
        assert run([EXE, *command], env).stderr == f"inferpipe: {message}\n", command
    daemon = run(DAEMON, env)
    assert daemon.returncode == 2
    assert one_error_line(daemon.stderr) == f"inferpipe.daemon: {message}"
    assert not home.exists()  # nothing was started, so nothing listens (not on 70000 % 65536 either)


# daemon stop ---------------------------------------------------------------------------------------
class FakeDaemon:
    """A plain HTTP server on the home's port claiming, in /ping, to be a daemon with some pid."""

    def __init__(self, port: int, status: dict[str, Any]) -> None:
        self.posts: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self._answer(status)

            def do_POST(self) -> None:  # noqa: N802
                fake.posts.append(self.headers.get("X-Amz-Target", ""))
                self._answer({"stopping": True})

            def _answer(self, data: dict[str, Any]) -> None:
                body = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def victim() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("forged_record", [False, True])
def test_stop_never_signals_the_pid_a_fake_listener_reports(
    home: Path, victim: subprocess.Popen[bytes], forged_record: bool
) -> None:
    port = free_port()
    home.mkdir(mode=0o700)
    if forged_record:  # even a record naming the process (start time and all) is not enough
        start = process_start_time(victim.pid)
        assert start is not None
        DaemonIdentity(victim.pid, start, port, "fake-id", str(home)).save(home / "daemon.json")
    fake = FakeDaemon(port, {"pid": victim.pid, "home": str(home), "instanceId": "fake-id", "url": "x"})
    try:
        result = run([EXE, "daemon", "stop"], user_env(home, port))
    finally:
        fake.close()
    assert result.returncode == 255
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"Something answers at http://127.0.0.1:{port}, but {home} has no running daemon" in result.stderr
    assert "nothing was stopped" in result.stderr
    assert fake.posts == []  # not even asked to shut down
    time.sleep(0.5)  # would a signal have landed, it would have by now
    assert victim.poll() is None


def test_stop_refuses_another_homes_daemon(daemon: DaemonHandle, home: Path) -> None:
    result = run([EXE, "daemon", "stop"], user_env(home, daemon.port))
    assert result.returncode == 255
    assert f"serves another home, not {home}; not stopping it." in result.stderr
    assert "with INFERPIPE_HOME set to its home" in result.stderr
    assert daemon.proc is not None and daemon.proc.poll() is None
    assert httpx.get(daemon.url + "/ping", timeout=5).json()["homeId"] == daemon.home_id


def test_stop_stops_the_verified_daemon_of_the_home_wherever_it_listens(home: Path) -> None:
    env = user_env(home)
    assert run([EXE, "daemon", "start"], env).returncode == 0
    record = DaemonIdentity.load(home / "daemon.json")
    assert record is not None and record.port == int(env["INFERPIPE_PORT"]) and record.is_running()
    status = httpx.get(f"http://127.0.0.1:{record.port}/ping", timeout=5).json()
    assert status["instanceId"] == record.instance_id
    # the user's shell now says another port: stop still finds this home's daemon by its record
    result = run([EXE, "daemon", "stop", "--output", "json"], dict(env, INFERPIPE_PORT=str(free_port())))
    assert (result.returncode, json.loads(result.stdout)) == (0, {"stopped": True}), result.stderr
    assert not record.is_running()
    assert not (home / "daemon.json").exists()
    again = run([EXE, "daemon", "stop", "--output", "json"], env)
    assert json.loads(again.stdout) == {"stopped": False}


# file modes ----------------------------------------------------------------------------------------
PRIVATE_FILES = ("state.db", "state.db-wal", "state.db-shm", "daemon.log", "daemon.lock", "daemon.pid", "daemon.json")


def test_a_new_home_and_its_files_are_owner_only(home: Path) -> None:
    env = user_env(home)
    created = run([EXE, "create-model", "--model-name", "m", "--container", "image=x:1"], env)
    assert created.returncode == 0, created.stderr
    assert mode(home) == 0o700
    for name in PRIVATE_FILES:
        assert mode(home / name) == 0o600, name


def test_files_an_older_version_left_open_are_tightened(tmp_path: Path) -> None:
    d = make_daemon()
    try:
        os.chmod(d.home, 0o755)
        old_umask = os.umask(0o022)
        try:
            Store(d.home / "state.db").close()
        finally:
            os.umask(old_umask)
        assert mode(d.home / "state.db") == 0o644
        d.start()  # the test harness opens daemon.log itself, 0644 under its umask
        for name in PRIVATE_FILES:
            assert mode(d.home / name) == 0o600, name
        assert mode(d.home) == 0o755  # a home that exists is the user's: warned about, not changed
        assert f"run `chmod 700 {d.home}`" in (d.home / "daemon.log").read_text()
    finally:
        cleanup(d)


# broken state ----------------------------------------------------------------------------------------
def as_other_user(home: Path) -> list[str]:
    """How to run a command as a user for whom modes matter. Root ignores them, so as root the
    command runs as `nobody`, with the home handed to it."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to drop root's privileges")
    for path in [home, *home.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def test_a_corrupt_state_db_is_one_line_from_the_daemon_and_the_cli(home: Path) -> None:
    home.mkdir(mode=0o700)
    db = home / "state.db"
    db.write_bytes(b"\x00garbage, not SQLite" * 500)
    env = user_env(home)
    daemon = run(DAEMON, env)
    assert daemon.returncode == 5
    expected = f"inferpipe's state database {db} is damaged or not a database (file is not a database)."
    line = one_error_line(daemon.stderr)
    assert expected in line and f"mv {db} {db}.broken" in line
    cli = run([EXE, "list-models"], env)
    assert cli.returncode == 255
    assert cli.stderr.startswith(f"The inferpipe daemon could not start (exit code 5): {expected}")
    assert cli.stderr.count("\n") == 1
    # the daemon the CLI started logged the same one line (after the first run's)
    logged = [x for x in (home / "daemon.log").read_text().splitlines() if " ERROR " in x]
    assert len(logged) == 2 and logged[-1].endswith(line.split(": ", 1)[1])


def test_a_read_only_state_db_is_one_line_from_the_daemon_and_the_cli(home: Path) -> None:
    home.mkdir(mode=0o700)
    db = home / "state.db"
    Store(db).close()
    os.chmod(db, 0o400)
    prefix = as_other_user(home)
    env = user_env(home)
    daemon = run([*prefix, *DAEMON], env)
    assert daemon.returncode == 5
    expected = f"inferpipe's state database {db} is read-only for this user (attempt to write a readonly database)."
    assert expected in one_error_line(daemon.stderr)
    cli = run([*prefix, EXE, "daemon", "start", "--foreground"], env)
    assert cli.returncode == 5
    assert expected in one_error_line(cli.stderr)
    assert mode(db) == 0o400  # never made writable behind the user's back


def test_an_unwritable_home_is_one_line_from_the_daemon_and_the_cli(home: Path) -> None:
    home.mkdir(mode=0o700)
    prefix = as_other_user(home)
    if prefix:
        os.chown(home, 0, 0)  # root's, so nobody cannot write it
        os.chmod(home, 0o755)
    else:
        os.chmod(home, 0o500)
    env = user_env(home)
    daemon = run([*prefix, *DAEMON], env)
    assert daemon.returncode == 5
    line = one_error_line(daemon.stderr)
    assert f"Cannot use the inferpipe home {home}: Permission denied ({home}/daemon.log)." in line
    assert "set INFERPIPE_HOME to another directory" in line
    cli = run([*prefix, EXE, "list-models"], env)
    assert cli.returncode == 255
    # the CLI's first write to the home is the file catching the daemon's output at start
    assert cli.stderr.startswith(f"Cannot use the inferpipe home {home}: Permission denied ({home}/daemon.stderr).")
    assert cli.stderr.count("\n") == 1
    os.chmod(home, 0o700)


def test_port_in_use_is_still_its_own_line(daemon: DaemonHandle, home: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        result = run(DAEMON, user_env(home, s.getsockname()[1]))
    assert result.returncode == 4
    assert "cannot serve on http://127.0.0.1:" in one_error_line(result.stderr)
    assert not (home / "daemon.json").exists()
