"""The wine sample pipeline served for real: predictions equal the same scikit-learn pipeline run
in this process, number for number."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from helpers import teardown, unique
from support import REPO, wait_endpoint

WINE = REPO / "sample-pipelines" / "wine"


def _train_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("wine_train", WINE / "train.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def wine_images() -> ModuleType:
    subprocess.run(
        ["bash", str(WINE / "build.sh"), "--version", "all"],
        check=True,
        env={**__import__("os").environ, "PYTHON": sys.executable},
    )
    return _train_module()


def _deploy(sm, version: int) -> str:  # noqa: ANN001
    spec = yaml.safe_load((WINE / ("pipeline.yaml" if version == 1 else "pipeline-v2.yaml")).read_text())
    name = unique("wine")
    model = spec["model"]
    model["ModelName"] = name
    for c in model["Containers"]:
        c["ModelDataUrl"] = str(WINE / c["ModelDataUrl"])
    sm.create_model(**model)
    variant = dict(spec["endpointConfig"]["ProductionVariants"][0], ModelName=name)
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    wait_endpoint(sm, name, timeout=180)
    return name


@pytest.mark.parametrize("version", [1, 2])
def test_predictions_equal_in_process_pipeline(sm, rt, wine_images, version):  # noqa: ANN001
    train = wine_images
    rows = (WINE / "artifacts" / f"v{version}" / "heldout.csv").read_text()
    expected = train.reference_predictions(version)
    name = _deploy(sm, version)
    try:
        r = rt.invoke_endpoint(EndpointName=name, Body=rows.encode(), ContentType="text/csv", Accept="application/json")
        assert r["ContentType"].startswith("application/json")
        got = json.loads(r["Body"].read())["predictions"]
        assert len(got) == len(expected) == len(rows.splitlines())
        for g, e in zip(got, expected, strict=True):
            assert g["label"] == e["label"] and g["class"] == e["class"]
            assert g["probability"] == pytest.approx(e["probability"], rel=1e-12, abs=1e-12)
        # CSV out, one row per input row, same numbers
        r = rt.invoke_endpoint(EndpointName=name, Body=rows.encode(), ContentType="text/csv", Accept="text/csv")
        lines = r["Body"].read().decode().strip().splitlines()
        assert [line.split(",")[0] for line in lines] == [e["label"] for e in expected]
        assert [float(line.split(",")[2]) for line in lines] == pytest.approx([e["probability"] for e in expected])
        # JSON in works too; both instances serve
        first = [[float(v) for v in rows.splitlines()[0].split(",")]]
        r = rt.invoke_endpoint(
            EndpointName=name,
            Body=json.dumps({"instances": first}).encode(),
            ContentType="application/json",
            Accept="application/json",
        )
        assert json.loads(r["Body"].read())["predictions"][0]["label"] == expected[0]["label"]
        desc = sm.describe_endpoint(EndpointName=name)
        assert desc["ProductionVariants"][0]["CurrentInstanceCount"] == 2
        # a bad row is the featurizer's 400, reported as ModelError naming it
        with pytest.raises(rt.exceptions.ModelError) as err:
            rt.invoke_endpoint(EndpointName=name, Body=b"not,a,number", ContentType="text/csv")
        assert "from featurizer" in err.value.response["Error"]["Message"]
    finally:
        teardown(sm, name)


def test_demo_spec_paths_resolve(tmp_path: Path) -> None:
    spec = yaml.safe_load((WINE / "pipeline.yaml").read_text())
    for c in spec["model"]["Containers"]:
        assert (WINE / c["ModelDataUrl"]).exists(), c["ModelDataUrl"]
