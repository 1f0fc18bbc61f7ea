"""Wine postprocessor container: class probabilities in, labelled predictions out.

Input: ``text/csv`` rows of class probabilities (as produced by the model container), or
``application/json`` ``{"instances": [[...], ...]}``. Output, chosen by Accept (a missing Accept or
``*/*`` means ``text/csv``):

- ``text/csv``: rows ``label,class_index,probability``;
- ``application/json``: ``{"predictions": [{"label": ..., "class": int, "probability": float}, ...]}``;
- ``application/jsonlines``: one such object per line.

Model data: ``postprocessor.joblib`` (``{"classes": [...]}``: the class index of each probability
column) and ``labels.json`` (the class names, indexed by class).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import joblib
from sagemaker_serving import Handler, main, parse_rows, wanted

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
SUPPORTED = (CSV, JSON, JSONLINES)


def load(model_dir: Path) -> Handler:
    classes = [int(c) for c in joblib.load(model_dir / "postprocessor.joblib")["classes"]]
    labels = [str(name) for name in json.loads((model_dir / "labels.json").read_text())]

    def predictions(rows: list[list[float]]) -> list[dict[str, Any]]:
        out = []
        for row in rows:
            j = max(range(len(row)), key=row.__getitem__)
            cls = classes[j]
            out.append({"label": labels[cls], "class": cls, "probability": row[j]})
        return out

    def handle(body: bytes, content_type: str, accept: str | None) -> tuple[bytes, str]:
        produce = wanted(accept, CSV, SUPPORTED)  # 406 before any work for an unsupported Accept
        preds = predictions(parse_rows(body, content_type, len(classes)))
        if produce == JSON:
            return json.dumps({"predictions": preds}).encode(), JSON
        if produce == JSONLINES:
            return "".join(json.dumps(p) + "\n" for p in preds).encode(), JSONLINES
        lines = "".join(f"{p['label']},{p['class']},{p['probability']!r}\n" for p in preds)
        return lines.encode(), CSV

    return handle


if __name__ == "__main__":
    sys.exit(main("postprocessor", load))
