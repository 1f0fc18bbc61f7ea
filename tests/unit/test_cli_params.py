"""The CLI's one reader of values and one maker of absolute paths (cli/params.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from inferpipe.cli.params import absolute_path, absolutize_model_data, load_value, read_body


def test_load_value_reads_json_yaml_shorthand_and_files(tmp_path: Path) -> None:
    (tmp_path / "v.yaml").write_text("Mode: Direct\n")
    (tmp_path / "v.json").write_bytes(b'{"Mode": "Serial"}')
    assert load_value(f"file://{tmp_path / 'v.yaml'}", "x") == {"Mode": "Direct"}
    assert load_value(f"fileb://{tmp_path / 'v.json'}", "x") == {"Mode": "Serial"}
    assert load_value("Mode: Direct", "x") == {"Mode": "Direct"}
    assert load_value("Key: a=b", "x") == {"Key": "a=b"}  # YAML, not shorthand: ':' comes first
    assert load_value("S3Uri=s3://b/k,Count=2", "x") == {"S3Uri": "s3://b/k", "Count": 2}
    assert load_value("[1, 2]", "x") == [1, 2]


def test_load_value_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(typer.BadParameter, match="cannot read"):
        load_value(f"file://{tmp_path / 'missing.json'}", "x")
    with pytest.raises(typer.BadParameter, match="unbalanced shorthand"):
        load_value("A={B=1", "x")


def test_read_body(tmp_path: Path) -> None:
    (tmp_path / "b.bin").write_bytes(b"\x00\x01")
    assert read_body(f"fileb://{tmp_path / 'b.bin'}") == b"\x00\x01"
    assert read_body(f"@{tmp_path / 'b.bin'}") == b"\x00\x01"
    assert read_body("1,2,3") == b"1,2,3"


def test_model_data_paths_follow_the_same_rule(tmp_path: Path) -> None:
    containers = [
        {"ModelDataUrl": "m.tar.gz"},
        {"ModelDataUrl": "file://m.tar.gz"},
        {"ModelDataUrl": "file://localhost/m.tar.gz"},
        {"ModelDataUrl": "s3://b/m.tar.gz"},
        {"Image": "x:1"},
    ]
    absolutize_model_data(containers, tmp_path)
    assert containers == [
        {"ModelDataUrl": str(tmp_path / "m.tar.gz")},
        {"ModelDataUrl": (tmp_path / "m.tar.gz").as_uri()},
        {"ModelDataUrl": "file://localhost/m.tar.gz"},
        {"ModelDataUrl": "s3://b/m.tar.gz"},
        {"Image": "x:1"},
    ]
    assert absolute_path("https://h/m", tmp_path) == "https://h/m"


def test_the_fast_path_still_imports_no_typer_or_yaml() -> None:
    code = "import sys, inferpipe.cli.fast; print(sorted(m for m in ('typer', 'yaml') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
