"""The home as private storage (modes, the model cache under the daemon's umask), the daemon's
identity record and the store's one-line errors."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from inferpipe.core.config import Settings
from inferpipe.core.containers.modeldata import ModelCache
from inferpipe.core.daemon_identity import DaemonIdentity, is_daemon_command, process_start_time
from inferpipe.core.home import DAEMON_UMASK, secure_home, tighten
from inferpipe.core.store import StateUnusable, Store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def daemon_umask() -> Iterator[None]:
    old = os.umask(DAEMON_UMASK)
    yield
    os.umask(old)


# modes -------------------------------------------------------------------------------------------
def test_tighten_removes_group_and_other_bits_and_never_adds_any(tmp_path: Path) -> None:
    wide, read_only, directory = tmp_path / "wide", tmp_path / "ro", tmp_path / "dir"
    wide.write_text("x")
    read_only.write_text("x")
    directory.mkdir()
    os.chmod(wide, 0o664)
    os.chmod(read_only, 0o444)
    os.chmod(directory, 0o755)
    for path in (wide, read_only, directory, tmp_path / "missing"):
        tighten(path)
    assert (mode(wide), mode(read_only), mode(directory)) == (0o600, 0o400, 0o700)


def test_secure_home_tightens_its_files_and_warns_about_an_open_home(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(home=tmp_path)
    os.chmod(tmp_path, 0o755)
    for name in ("state.db", "state.db-wal", "daemon.log", "daemon.json", "unrelated.txt"):
        (tmp_path / name).write_text("x")
        os.chmod(tmp_path / name, 0o644)
    (tmp_path / "model-cache").mkdir(mode=0o755)
    os.chmod(tmp_path / "model-cache", 0o755)
    secure_home(settings)
    for name in ("state.db", "state.db-wal", "daemon.log", "daemon.json"):
        assert mode(tmp_path / name) == 0o600, name
    assert mode(tmp_path / "model-cache") == 0o700
    assert mode(tmp_path / "unrelated.txt") == 0o644  # not ours to change
    assert mode(tmp_path) == 0o755  # INFERPIPE_HOME may be shared on purpose: only warned about
    assert f"run `chmod 700 {tmp_path}`" in caplog.text


def tarball(path: Path, members: dict[str, tuple[bytes, int]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, (data, file_mode) in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = file_mode
            tar.addfile(info, io.BytesIO(data))
    return path


def test_extracted_model_data_stays_readable_by_container_users_under_the_daemon_umask(
    tmp_path: Path, daemon_umask: None
) -> None:
    archive = tarball(
        tmp_path / "model.tar.gz",
        {"weights/deep/model.bin": (b"w", 0o644), "config.json": (b"{}", 0o644), "secret.key": (b"k", 0o600)},
    )
    cache = ModelCache(tmp_path / "home" / "model-cache")
    entry = cache.materialize(str(archive))
    assert mode(cache.root) == 0o700  # the cache itself: owner-only
    # what is mounted at /opt/ml/model: directories traversable, files readable by the container's
    # user whatever the archive says (the extractor normalizes modes; the cache above is 0700)
    assert mode(entry) == mode(entry / "weights") == mode(entry / "weights" / "deep") == 0o755
    assert mode(entry / "weights" / "deep" / "model.bin") == 0o644
    assert mode(entry / "secret.key") == 0o644


# the daemon's identity ---------------------------------------------------------------------------
def test_identity_round_trips_owner_only(tmp_path: Path) -> None:
    me = DaemonIdentity.of_this_process(8765, tmp_path)
    me.save(tmp_path / "daemon.json")
    assert mode(tmp_path / "daemon.json") == 0o600
    assert DaemonIdentity.load(tmp_path / "daemon.json") == me
    me.remove_if_mine(tmp_path / "daemon.json")
    assert not (tmp_path / "daemon.json").exists()


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"pid": 1}', '{"pid": "x", "start_time": 1}'])
def test_a_damaged_identity_record_is_no_record(tmp_path: Path, text: str) -> None:
    (tmp_path / "daemon.json").write_text(text)
    assert DaemonIdentity.load(tmp_path / "daemon.json") is None


def test_a_live_process_is_the_daemon_only_with_its_start_time_and_command_line(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = process_start_time(proc.pid)
        assert started is not None
        record = DaemonIdentity(proc.pid, started, 8765, "id", str(tmp_path))
        assert not record.is_running()  # alive, same start time, but not an inferpipe daemon
    finally:
        proc.kill()
        proc.wait()
    assert process_start_time(proc.pid) is None


def test_a_reused_pid_is_not_the_recorded_daemon() -> None:
    me = DaemonIdentity.of_this_process(8765, Path("/"))
    stale = DaemonIdentity(me.pid, me.start_time - 1, 8765, "id", "/")
    assert process_start_time(me.pid) == me.start_time
    assert not stale.is_running()


def test_the_ways_a_daemon_is_started_are_recognised() -> None:
    assert is_daemon_command(["/v/bin/python3", "-m", "inferpipe.core.daemon"])
    assert is_daemon_command(["/v/bin/python3", "/v/bin/inferpipe", "daemon", "start", "--foreground"])
    assert not is_daemon_command(["/v/bin/python3", "/v/bin/inferpipe", "daemon", "start"])
    assert not is_daemon_command(["sleep", "60"])
    assert not is_daemon_command([])


def test_answered_by_needs_the_records_instance_id() -> None:
    # the pid is checked against /proc (is_running), not taken from what a listener says
    record = DaemonIdentity(10, 5, 8765, "abc", "/h")
    assert record.answered_by({"status": "ok", "instanceId": "abc"})
    assert not record.answered_by({"pid": 10})
    assert not record.answered_by({"instanceId": "abd"})
    assert not record.answered_by(None)


# the store ---------------------------------------------------------------------------------------
def test_a_corrupt_state_db_is_one_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    db.write_bytes(os.urandom(4096))
    with pytest.raises(StateUnusable) as err:
        Store(db)
    message = str(err.value)
    assert "\n" not in message
    assert f"inferpipe's state database {db} is damaged or not a database" in message
    assert f"mv {db} {db}.broken" in message
