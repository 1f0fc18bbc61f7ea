"""Wine classifier container: features in, class probabilities out.

Input: ``text/csv`` rows of features (as produced by the featurizer), or ``application/json``
``{"instances": [[...], ...]}``. Output: always ``text/csv``, one row per input row holding the
probability of each class (columns in the order of the model's ``classes_``) at full precision.
The Accept header is the client's and is meant for the pipeline's last container, so it is not
checked here. Model data: ``model.joblib`` (a fitted scikit-learn classifier).
"""

from __future__ import annotations

import sys
from pathlib import Path

import joblib
import numpy as np
from sagemaker_serving import Handler, main, parse_rows, to_csv


def load(model_dir: Path) -> Handler:
    model = joblib.load(model_dir / "model.joblib")
    width = int(model.n_features_in_)

    def handle(body: bytes, content_type: str, accept: str | None) -> tuple[bytes, str]:
        rows = parse_rows(body, content_type, width)
        return to_csv(model.predict_proba(np.asarray(rows, dtype=np.float64)).tolist()), "text/csv"

    return handle


if __name__ == "__main__":
    sys.exit(main("model", load))
