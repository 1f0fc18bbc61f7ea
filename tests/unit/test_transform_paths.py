"""Transform job paths: keys confined under their prefix, only regular files read, outputs written
only below S3OutputPath."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from trickle import ReadOnly

from inferpipe.core.batch.inputs import (
    CountingReader,
    InputError,
    list_inputs,
    open_input,
    output_file,
    partial_file,
)
from inferpipe.core.batch.minibatch import OutputWriter
from inferpipe.core.containers.hostpaths import HostPathPolicy


def policy(tmp_path: Path) -> HostPathPolicy:
    return HostPathPolicy(None, (Path("/etc"), tmp_path / "home"))


def manifest(tmp_path: Path, prefix: str, *keys: str) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps([{"prefix": prefix}, *keys]))
    return path


def test_a_manifest_key_with_dotdot_is_refused_naming_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("1\n")
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "secret.csv").write_text("secret\n")
    m = manifest(tmp_path, f"file://{data}/", "a.csv", "../victim/secret.csv")
    with pytest.raises(InputError, match=r"lists the key '\.\./victim/secret\.csv' contains '\.\.'"):
        list_inputs(str(m), "ManifestFile", policy(tmp_path))
    m = manifest(tmp_path, f"{data}/", "a.csv")
    assert [f.relative for f in list_inputs(str(m), "ManifestFile", policy(tmp_path))] == ["a.csv"]


def test_manifest_keys_may_not_leave_the_prefix_through_links(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "out").symlink_to(tmp_path)
    (tmp_path / "secret.csv").write_text("s\n")
    m = manifest(tmp_path, f"{data}/", "out/secret.csv")
    with pytest.raises(InputError, match="'out/secret.csv', which leads outside the manifest prefix"):
        list_inputs(str(m), "ManifestFile", policy(tmp_path))
    m = manifest(tmp_path, "/etc/", "passwd")
    with pytest.raises(InputError, match="is inside /etc"):
        list_inputs(str(m), "ManifestFile", policy(tmp_path))


def test_inputs_must_be_regular_files_inside_the_prefix(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_text("1\n")
    (data / "sub" / "b.csv").write_text("2\n")
    (data / "alias.csv").symlink_to("sub/b.csv")  # inside: read as its target
    files = list_inputs(str(data), "S3Prefix", policy(tmp_path))
    assert [(f.relative, f.path) for f in files] == [
        ("a.csv", data / "a.csv"),
        ("alias.csv", data / "sub" / "b.csv"),
        ("sub/b.csv", data / "sub" / "b.csv"),
    ]
    (data / "shadow").symlink_to("/etc/passwd")
    with pytest.raises(InputError, match="'shadow' leads outside the input prefix"):
        list_inputs(str(data), "S3Prefix", policy(tmp_path))
    (data / "shadow").unlink()
    os.mkfifo(data / "sub" / "pipe")
    with pytest.raises(InputError, match=r"'sub/pipe' is a FIFO \(named pipe\): only regular files are read"):
        list_inputs(str(data), "S3Prefix", policy(tmp_path))


def test_a_key_prefix_matching_a_system_tree_is_refused(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "state.db").write_text("")
    with pytest.raises(InputError, match="is inside"):
        list_inputs(str(tmp_path / "ho"), "S3Prefix", policy(tmp_path))


def test_open_input_never_opens_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(OSError, match="is a FIFO"):
        open_input(tmp_path / "pipe", "None")


def test_outputs_never_land_outside_the_output_path(tmp_path: Path) -> None:
    out = tmp_path / "out"
    elsewhere = tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "sub").symlink_to(elsewhere)
    files = list_inputs(str(_inputs(tmp_path)), "S3Prefix", policy(tmp_path))
    by_key = {f.relative: f for f in files}
    final = output_file(out, by_key["sub/a.csv"])
    writer = OutputWriter(final, partial_file(final, "job"))
    with pytest.raises(OSError):
        writer.open()
    writer.discard()
    assert list(elsewhere.iterdir()) == []
    final = output_file(out, by_key["top.csv"])
    writer = OutputWriter(final, partial_file(final, "job"))
    writer.open()

    async def write() -> None:
        await writer.write([b"1\n"])
        await writer.commit()

    asyncio.run(write())
    assert (out / "top.csv.out").read_bytes() == b"1\n"
    assert sorted(p.name for p in out.iterdir()) == ["sub", "top.csv.out"]


def _inputs(tmp_path: Path) -> Path:
    data = tmp_path / "in"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "a.csv").write_text("1\n")
    (data / "top.csv").write_text("1\n")
    return data


def test_the_input_reader_counts_what_readinto_reads(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_bytes(b"a\nb\nc\n")
    stream, counter = open_input(tmp_path / "in.csv", "None")
    buf = bytearray(4)
    assert stream.readinto(memoryview(buf)) == 4 and bytes(buf) == b"a\nb\n"  # type: ignore[attr-defined]
    assert stream.readinto(memoryview(buf)) == 2 and counter.count == 6  # type: ignore[attr-defined]
    assert stream.readinto(memoryview(buf)) == 0
    stream.close()


def test_readinto_on_a_body_that_only_reads_copies_once(tmp_path: Path) -> None:
    reader = CountingReader(ReadOnly(b"0123456789", 3))  # type: ignore[arg-type]
    buf = bytearray(8)
    assert reader.readinto(memoryview(buf)) == 3 and bytes(buf[:3]) == b"012"
    assert reader.readinto(memoryview(buf)[3:]) == 3 and reader.count == 6
