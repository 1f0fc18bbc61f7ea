"""Wine featurizer container: raw measurements in, transformed features out.

Input: ``text/csv`` rows of the 13 wine measurements, ``application/json``
``{"instances": [[13 numbers], ...]}``, or ``application/jsonlines`` (one row per line).
Output: always ``text/csv``, one row of transformed features per input row at full precision (the
next container reads CSV). The Accept header is the client's and is meant for the pipeline's last
container, so it is not checked here. Model data: ``featurizer.joblib`` (a fitted scikit-learn
transformer).
"""

from __future__ import annotations

import sys
from pathlib import Path

import joblib
import numpy as np
from sagemaker_serving import Handler, main, parse_rows, to_csv

N_FEATURES = 13


def load(model_dir: Path) -> Handler:
    featurizer = joblib.load(model_dir / "featurizer.joblib")
    width = int(getattr(featurizer, "n_features_in_", N_FEATURES))

    def handle(body: bytes, content_type: str, accept: str | None) -> tuple[bytes, str]:
        rows = parse_rows(body, content_type, width)
        return to_csv(featurizer.transform(np.asarray(rows, dtype=np.float64)).tolist()), "text/csv"

    return handle


if __name__ == "__main__":
    sys.exit(main("featurizer", load))
