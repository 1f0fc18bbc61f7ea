"""Train the wine serial inference pipeline and write its three model tarballs.

    python3 train.py [--version 1|2] [--out DIR]

Version 1: featurizer = StandardScaler, model = LogisticRegression(C=1.0).
Version 2 (a genuinely different "retrained" pipeline): featurizer = StandardScaler + PCA(8),
model = LogisticRegression(C=0.1).

Writes, under DIR (default ``artifacts/v<version>`` next to this file):

    featurizer/model.tar.gz      featurizer.joblib
    model/model.tar.gz           model.joblib
    postprocessor/model.tar.gz   postprocessor.joblib ({"classes": [...]}, the model's classes_) + labels.json
    heldout.csv                  held-out feature rows (13 columns, no header)
    heldout_labels.csv           their true class index, one per line

The output is deterministic: fixed split seed, deterministic estimators, tarballs with fixed
metadata. Tests import :func:`build_reference` to compute the same predictions in-process.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
import tarfile
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.datasets import load_wine
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent
SEED = 42
TEST_SIZE = 0.25
VERSIONS = (1, 2)


def split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The fixed, stratified train / held-out split of the wine data set."""
    data = load_wine()
    x_train, x_heldout, y_train, y_heldout = train_test_split(
        data.data, data.target, test_size=TEST_SIZE, random_state=SEED, stratify=data.target
    )
    return x_train, x_heldout, y_train, y_heldout, [str(n) for n in data.target_names]


def make_estimators(version: int) -> tuple[Pipeline, LogisticRegression]:
    if version == 1:
        featurizer = make_pipeline(StandardScaler())
        model = LogisticRegression(C=1.0, max_iter=1000)
    elif version == 2:
        featurizer = make_pipeline(StandardScaler(), PCA(n_components=8, svd_solver="full"))
        model = LogisticRegression(C=0.1, max_iter=1000)
    else:
        raise ValueError(f"unknown version {version!r}; expected one of {VERSIONS}")
    return featurizer, model


def build_reference(version: int = 1) -> tuple[Pipeline, LogisticRegression, list[str], np.ndarray]:
    """Fit version ``version`` in-process: ``(featurizer, model, labels, X_heldout)``.

    ``labels[i]`` is the name of class index ``i``. Predictions of the served pipeline for
    ``X_heldout`` equal ``model.predict_proba(featurizer.transform(X_heldout))``.
    """
    x_train, x_heldout, y_train, _y_heldout, labels = split()
    featurizer, model = make_estimators(version)
    featurizer.fit(x_train)
    model.fit(featurizer.transform(x_train), y_train)
    return featurizer, model, labels, x_heldout


def reference_predictions(version: int = 1, x: np.ndarray | None = None) -> list[dict[str, Any]]:
    """What the postprocessor returns as JSON for ``x`` (default: the held-out rows)."""
    featurizer, model, labels, x_heldout = build_reference(version)
    proba = model.predict_proba(featurizer.transform(x_heldout if x is None else x))
    out = []
    for row in proba:
        j = int(np.argmax(row))
        cls = int(model.classes_[j])
        out.append({"label": labels[cls], "class": cls, "probability": float(row[j])})
    return out


def _tarball(path: Path, members: dict[str, bytes]) -> None:
    """A reproducible model.tar.gz: sorted members at the root, fixed owner, mode and mtime."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(members):
            data = members[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buf.getvalue())


def _joblib_bytes(obj: BaseEstimator | dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    joblib.dump(obj, buf)
    return buf.getvalue()


def _csv(rows: np.ndarray) -> str:
    return "".join(",".join(repr(float(v)) for v in np.atleast_1d(row)) + "\n" for row in rows)


def train(version: int, out: Path) -> dict[str, Any]:
    featurizer, model, labels, x_heldout = build_reference(version)
    _x_train, _x, _y_train, y_heldout, _labels = split()
    accuracy = float(model.score(featurizer.transform(x_heldout), y_heldout))
    _tarball(out / "featurizer" / "model.tar.gz", {"featurizer.joblib": _joblib_bytes(featurizer)})
    _tarball(out / "model" / "model.tar.gz", {"model.joblib": _joblib_bytes(model)})
    classes = [int(c) for c in model.classes_]
    _tarball(
        out / "postprocessor" / "model.tar.gz",
        {
            "postprocessor.joblib": _joblib_bytes({"classes": classes}),
            "labels.json": (json.dumps(labels) + "\n").encode(),
        },
    )
    (out / "heldout.csv").write_text(_csv(x_heldout))
    (out / "heldout_labels.csv").write_text("".join(f"{int(y)}\n" for y in y_heldout))
    return {"version": version, "out": str(out), "heldout_rows": len(x_heldout), "accuracy": accuracy}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", type=int, choices=VERSIONS, default=1)
    parser.add_argument("--out", type=Path, help="output directory (default: artifacts/v<version>)")
    args = parser.parse_args(argv)
    out = args.out or HERE / "artifacts" / f"v{args.version}"
    info = train(args.version, out.resolve())
    print(
        f"trained wine v{info['version']}: held-out accuracy {info['accuracy']:.3f} "
        f"on {info['heldout_rows']} rows -> {info['out']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
