"""Settings from the environment: every INFERPIPE_* value is checked when read, and a bad one is
refused with a message naming it, its value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferpipe.core.config import ConfigError, Settings


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("70000", "INFERPIPE_PORT=70000 is out of range: expected an integer from 1 to 65535."),
        ("0", "INFERPIPE_PORT=0 is out of range: expected an integer from 1 to 65535."),
        ("abc", "INFERPIPE_PORT='abc' is not valid: expected an integer from 1 to 65535."),
        ("80.5", "INFERPIPE_PORT='80.5' is not valid: expected an integer from 1 to 65535."),
    ],
)
def test_port_must_be_an_integer_from_1_to_65535(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, message: str
) -> None:
    monkeypatch.setenv("INFERPIPE_HOME", str(tmp_path))
    monkeypatch.setenv("INFERPIPE_PORT", value)
    with pytest.raises(ConfigError) as err:
        Settings.from_env()
    assert str(err.value) == message


def test_http_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INFERPIPE_HOME", str(tmp_path))
    monkeypatch.setenv("INFERPIPE_MAX_CONNECTIONS", "7")
    monkeypatch.setenv("INFERPIPE_HEADER_TIMEOUT", "1.5")
    monkeypatch.setenv("INFERPIPE_BODY_TIMEOUT", "2")
    monkeypatch.setenv("INFERPIPE_KEEPALIVE_TIMEOUT", "3")
    monkeypatch.setenv("INFERPIPE_CONTROL_PLANE_MAX_BODY", "200000")
    s = Settings.from_env()
    assert (s.max_connections, s.header_timeout, s.body_timeout, s.keepalive_timeout, s.control_plane_max_body) == (
        7,
        1.5,
        2.0,
        3.0,
        200000,
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("INFERPIPE_MAX_CONNECTIONS", "0", "INFERPIPE_MAX_CONNECTIONS=0 is out of range"),
        ("INFERPIPE_HEADER_TIMEOUT", "soon", "INFERPIPE_HEADER_TIMEOUT='soon' is not valid"),
        ("INFERPIPE_BODY_TIMEOUT", "nan", "INFERPIPE_BODY_TIMEOUT=nan is out of range"),
        ("INFERPIPE_KEEPALIVE_TIMEOUT", "-1", "INFERPIPE_KEEPALIVE_TIMEOUT=-1 is out of range"),
        ("INFERPIPE_CONTROL_PLANE_MAX_BODY", "10", "INFERPIPE_CONTROL_PLANE_MAX_BODY=10 is out of range"),
    ],
)
def test_bad_limits_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv("INFERPIPE_HOME", str(tmp_path))
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        Settings.from_env()
