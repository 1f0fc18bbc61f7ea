"""The model tarball extractor against hostile archives: the CVE-2025-4517 link chain, size bombs,
member floods, absolute paths, '..', link escapes, devices, FIFOs and setuid bits."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from inferpipe.core.containers.archive import extract
from inferpipe.core.containers.modeltree import LimitExceeded, TreeLimits, TreeRefused

BIG = TreeLimits(max_bytes=1 << 30, max_members=10_000)


def member(
    name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644, size: int = 0
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = mode
    info.size = size
    return info


def make_tar(path: Path, entries: list[tuple[tarfile.TarInfo, bytes | None]], gz: bool = True) -> Path:
    with tarfile.open(path, "w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def files(*names_and_data: tuple[str, bytes]) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    return [(member(n), d) for n, d in names_and_data]


@pytest.fixture
def dest(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "dest"
    d.mkdir()
    yield d


def run(archive: Path, dest: Path, limits: TreeLimits = BIG) -> None:
    fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with archive.open("rb") as fh:
            extract(fh, fd, limits)
    finally:
        os.close(fd)


def cve_2025_4517(path: Path, victim_dir: Path) -> Path:
    """The published proof of concept's shape: a chain of directory symlinks whose resolved path
    exceeds PATH_MAX, so os.path.realpath stops resolving and the data filter judges the last link
    lexically; a link through the chain that really points at ``victim_dir``; a hard link to the
    victim through it; then a regular member of the hard link's name, written into the victim."""
    comp = "d" * 247
    steps = "abcdefghijklmnop"
    step_path = ""
    entries: list[tuple[tarfile.TarInfo, bytes | None]] = []
    for s in steps:
        entries.append((member(os.path.join(step_path, comp), tarfile.DIRTYPE, mode=0o755), None))
        entries.append((member(os.path.join(step_path, s), tarfile.SYMTYPE, comp), None))
        step_path = os.path.join(step_path, s)
    linkpath = os.path.join("/".join(steps), "l" * 254)
    entries.append((member(linkpath, tarfile.SYMTYPE, "../" * len(steps)), None))
    escape = linkpath + "/.." * (len(steps) + 1) + str(victim_dir)  # absolute dir with its leading / kept
    entries.append((member("escape", tarfile.SYMTYPE, escape), None))
    entries.append((member("flaglink", tarfile.LNKTYPE, "escape/victim"), None))
    entries.append((member("flaglink"), b"pwned\n"))
    return make_tar(path, entries, gz=False)


def test_the_cve_2025_4517_chain_is_refused_and_writes_nothing_outside(tmp_path: Path, dest: Path) -> None:
    victim_dir = tmp_path / "victim"
    victim_dir.mkdir()
    victim = victim_dir / "victim"
    victim.write_text("original\n")
    archive = cve_2025_4517(tmp_path / "poc.tar", victim_dir)

    # The archive is a real exploit: extracted naively it overwrites the victim through the chain.
    naive = tmp_path / "naive"
    naive.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(naive, filter="fully_trusted")
    assert victim.read_text() == "pwned\n"
    victim.write_text("original\n")

    with pytest.raises(TreeRefused, match="lies inside the symbolic link 'a'"):
        run(archive, dest)
    assert victim.read_text() == "original\n"
    assert sorted(p.name for p in victim_dir.iterdir()) == ["victim"]


def test_a_link_made_unsafe_by_a_later_member_is_caught_when_the_tree_is_complete(tmp_path: Path, dest: Path) -> None:
    # x -> a/../b stays inside while "a" does not exist; once a -> "." exists, x leads to dest/../b.
    archive = make_tar(
        tmp_path / "late.tar.gz",
        [(member("x", tarfile.SYMTYPE, "a/../b"), None), (member("a", tarfile.SYMTYPE, "."), None)],
    )
    with pytest.raises(TreeRefused, match="'x' is a symbolic link leading outside .* once the later entries exist"):
        run(archive, dest)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (member("/etc/passwd", size=1), "has an absolute path"),
        (member("../escape.txt", size=1), r"leads outside the model data \('..'\)"),
        (member("a/../../escape.txt", size=1), r"leads outside the model data \('..'\)"),
        (member("link", tarfile.SYMTYPE, "/etc/shadow"), "absolute symbolic link"),
        (member("a/link", tarfile.SYMTYPE, "../../x"), "symbolic link leading outside"),
        (member("hard", tarfile.LNKTYPE, "../outside"), "hard link leading outside"),
        (member("hard", tarfile.LNKTYPE, "/etc/passwd"), "hard link leading outside"),
        (member("hard", tarfile.LNKTYPE, "missing"), "not a regular file in the model data"),
        (member("dev", tarfile.CHRTYPE), "is a device"),
        (member("blk", tarfile.BLKTYPE), "is a device"),
        (member("fifo", tarfile.FIFOTYPE), "is a FIFO"),
    ],
)
def test_hostile_members_are_refused(tmp_path: Path, dest: Path, entry: tarfile.TarInfo, problem: str) -> None:
    archive = make_tar(tmp_path / "evil.tar.gz", [(entry, b"x" if entry.isfile() else None)])
    with pytest.raises(TreeRefused, match=problem):
        run(archive, dest)
    assert list(dest.iterdir()) == []


def test_writing_through_an_existing_link_is_refused(tmp_path: Path, dest: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = make_tar(
        tmp_path / "through.tar.gz",
        [(member("d", tarfile.SYMTYPE, "."), None), (member("d/f"), b"x")],
    )
    with pytest.raises(TreeRefused, match="'d/f' lies inside the symbolic link 'd'"):
        run(archive, dest)
    hard = make_tar(
        tmp_path / "hard.tar.gz",
        [(member("l", tarfile.SYMTYPE, "f"), None), (member("f"), b"x"), (member("h", tarfile.LNKTYPE, "l"), None)],
    )
    with pytest.raises(TreeRefused, match="hard link to 'l', which is not a regular file"):
        run(hard, tmp_path / "outside")


def test_a_duplicate_member_replaces_a_hard_link_instead_of_writing_through_it(tmp_path: Path, dest: Path) -> None:
    archive = make_tar(
        tmp_path / "dup.tar.gz",
        [(member("a"), b"first"), (member("b", tarfile.LNKTYPE, "a"), None), (member("b"), b"second")],
    )
    run(archive, dest)
    assert (dest / "a").read_bytes() == b"first"
    assert (dest / "b").read_bytes() == b"second"


def test_modes_are_masked(tmp_path: Path, dest: Path) -> None:
    archive = make_tar(
        tmp_path / "modes.tar.gz",
        [
            (member("suid", mode=0o4755), b"x"),
            (member("sgid-world-writable", mode=0o2777), b"x"),
            (member("sticky", mode=0o1666), b"x"),
            (member("private", mode=0o600), b"x"),
            (member("dir", tarfile.DIRTYPE, mode=0o7777), None),
        ],
    )
    run(archive, dest)
    modes = {p.name: stat.S_IMODE(p.lstat().st_mode) for p in dest.iterdir()}
    assert modes == {"suid": 0o755, "sgid-world-writable": 0o755, "sticky": 0o644, "private": 0o644, "dir": 0o755}


def test_ordinary_archives_extract(tmp_path: Path, dest: Path) -> None:
    archive = make_tar(
        tmp_path / "ok.tar",
        [
            (member(".", tarfile.DIRTYPE, mode=0o755), None),
            (member("./model", tarfile.DIRTYPE, mode=0o755), None),
            (member("./model/weights.bin"), b"w" * 1000),
            (member("./code/serve.py", mode=0o755), b"print()"),
            (member("./latest", tarfile.SYMTYPE, "model/weights.bin"), None),
            (member("./model/up", tarfile.SYMTYPE, "../code"), None),
            (member("./copy", tarfile.LNKTYPE, "model/weights.bin"), None),
        ],
        gz=False,  # an uncompressed tar is accepted too
    )
    run(archive, dest)
    assert (dest / "latest").read_bytes() == b"w" * 1000
    assert (dest / "model" / "up" / "serve.py").read_bytes() == b"print()"
    assert (dest / "copy").stat().st_ino == (dest / "model" / "weights.bin").stat().st_ino


def test_a_size_bomb_stops_at_the_byte_limit(tmp_path: Path, dest: Path) -> None:
    """64 MiB of zeros compress to about 64 KiB; with an 8 MiB limit nothing past it is written."""
    bomb = tmp_path / "bomb.tar.gz"
    with tarfile.open(bomb, "w:gz") as tar:
        for i in range(8):
            info = member(f"zeros-{i}", size=8 << 20)
            tar.addfile(info, io.BytesIO(bytes(8 << 20)))
    assert bomb.stat().st_size < 1 << 20
    limits = TreeLimits(max_bytes=8 << 20, max_members=100)
    with pytest.raises(LimitExceeded, match=r"expands past the 8 MiB limit \(INFERPIPE_MAX_MODEL_DATA_BYTES\)"):
        run(bomb, dest, limits)
    assert sum(p.stat().st_size for p in dest.iterdir()) <= 8 << 20
    one_big = make_tar(tmp_path / "one.tar.gz", [(member("huge"), bytes(16 << 20))])
    shutil.rmtree(dest)
    dest.mkdir()
    with pytest.raises(LimitExceeded, match="INFERPIPE_MAX_MODEL_DATA_BYTES"):
        run(one_big, dest, limits)
    assert list(dest.iterdir()) == []  # the declared size is checked before anything is written


def test_a_sparse_member_counts_its_expanded_size(tmp_path: Path, dest: Path) -> None:
    sparse = tmp_path / "sparse.bin"
    with sparse.open("wb") as fh:
        fh.truncate(32 << 20)  # 32 MiB apparent, nothing on disk
    archive = tmp_path / "sparse.tar.gz"
    with tarfile.open(archive, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        tar.add(sparse, "sparse.bin")
    with pytest.raises(LimitExceeded, match="8 MiB limit"):
        run(archive, dest, TreeLimits(max_bytes=8 << 20, max_members=100))


def test_too_many_members_stop_at_the_member_limit(tmp_path: Path, dest: Path) -> None:
    archive = make_tar(tmp_path / "many.tar.gz", [(member(f"f{i}"), b"") for i in range(50)])
    with pytest.raises(
        LimitExceeded, match=r"more than 20 entries, the limit \(INFERPIPE_MAX_MODEL_DATA_MEMBERS\)"
    ) as err:
        run(archive, dest, TreeLimits(max_bytes=1 << 20, max_members=20))
    assert err.value.setting == "INFERPIPE_MAX_MODEL_DATA_MEMBERS"
    assert len(list(dest.iterdir())) == 20


def test_an_oversized_pax_header_is_refused(tmp_path: Path, dest: Path) -> None:
    info = member("f")
    info.pax_headers = {"comment": "x" * (20 << 20)}
    archive = make_tar(tmp_path / "pax.tar.gz", [(info, b"x")])
    with pytest.raises(TreeRefused, match="tar headers far larger than its entries need"):
        run(archive, dest)


def test_garbage_is_a_clear_error(tmp_path: Path, dest: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(gzip.compress(b"not a tar archive at all" * 100))
    with pytest.raises(TreeRefused, match="cannot be read as a gzip compressed tar archive"):
        run(junk, dest)
