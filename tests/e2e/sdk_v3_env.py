"""The SageMaker Python SDK v3's own virtual environment, for the SDK flow tests.

SDK v3 (PyPI ``sagemaker`` 3.x) cannot share the test environment with SDK v2 (``sagemaker`` < 3,
which the test extra installs), so it gets a venv of its own, created once and kept under the
user's cache directory, keyed by a hash of what it installs: a second run, or a second test
session, reuses it. Only ``sagemaker-core`` is installed: it is the distribution that ships the
``sagemaker.core`` package of ``sagemaker`` 3.x (its resources and shapes, all the flow uses);
the ``sagemaker`` 3.x meta-package adds the training, serving and MLOps layers (and mlflow), which
took 6 minutes and 790 MB to install here, against under 3 minutes and 450 MB for sagemaker-core.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from pathlib import Path

REQUIREMENTS = ("sagemaker-core>=2,<3", "boto3>=1.34")
READY = "inferpipe-ready"


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "inferpipe-tests"


def sdk_v3_python() -> Path:
    """The Python of the SDK v3 venv, creating it (under a lock, so parallel sessions build it once)."""
    key = hashlib.sha256("\n".join((sys.version, *REQUIREMENTS)).encode()).hexdigest()[:16]
    venv = cache_root() / f"sagemaker-v3-{key}"
    python = venv / "bin" / "python"
    if (venv / READY).exists():
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / READY).exists():
            # A venv left half-built by an interrupted run is rebuilt from scratch.
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *REQUIREMENTS],
                check=True,
            )
            (venv / READY).write_text("\n".join(REQUIREMENTS) + "\n")
    return python
