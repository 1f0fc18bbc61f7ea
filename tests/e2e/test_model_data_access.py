"""Model data extracted by the daemon (owner-only umask, a 0700 home and cache) stays readable in
the container, by a container user that is neither root nor the daemon's user."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

EXTRACT = """
import os, sys
from pathlib import Path
from inferpipe.core.home import DAEMON_UMASK
from inferpipe.core.containers.modeldata import ModelCache
os.umask(DAEMON_UMASK)  # as the daemon runs
home = Path(sys.argv[2])
home.mkdir(mode=0o700)
print(ModelCache(home / "model-cache").materialize(sys.argv[1]))
"""


def test_a_non_root_container_user_reads_model_data_from_the_private_cache(echo_image: str, tmp_path: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:  # no directory members: their parents are implied
        for name, data in {"weights/deep/model.bin": b"the weights", "config.json": b"{}"}.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    home = tmp_path / "home"
    extracted = subprocess.run(
        [sys.executable, "-c", EXTRACT, str(archive), str(home)], capture_output=True, text=True, check=True
    )
    entry = Path(extracted.stdout.strip())
    assert os.stat(home).st_mode & 0o777 == 0o700 and os.stat(entry.parent).st_mode & 0o777 == 0o700
    result = subprocess.run(
        [
            "docker", "run", "--rm", "--user", "65534:65534", "--network", "none",
            "--mount", f"type=bind,source={entry},target=/opt/ml/model,readonly",
            "--entrypoint", "cat", echo_image, "/opt/ml/model/weights/deep/model.bin", "/opt/ml/model/config.json",
        ],
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"the weights{}"
