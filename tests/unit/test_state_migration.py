"""Schema migration 3: endpoint and transform-job state written in the first (mixed-key) layout is
read back typed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from inferpipe.core.batch.state import TransformJobState
from inferpipe.core.serving.state import DeployedImage, DeploymentPhase, EndpointState, VariantState
from inferpipe.core.store import MIGRATIONS, SCHEMA_VERSION, Store

CONFIG = {
    "EndpointConfigName": "cfg-blue",
    "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large"}],
}
NEW_CONFIG = dict(CONFIG, EndpointConfigName="cfg-green")
MODELS = {"m": {"ModelName": "m", "Containers": [{"Image": "echo:1"}]}}
POLICY = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE"}}}
PENDING = {
    "EndpointConfigName": "cfg-green",
    "ProductionVariants": [
        {
            "VariantName": "AllTraffic",
            "DesiredWeight": 1.0,
            "DesiredInstanceCount": 2,
            "VariantStatus": [{"Status": "Baking", "StartTime": 105.5, "StatusMessage": "Baking 5 s."}],
            "InstanceType": "ml.m5.large",
        }
    ],
    "StartTime": 100.0,
}
OLD_ENDPOINT = {
    "config": CONFIG,
    "models": MODELS,
    "nextGeneration": 3,
    "variants": [
        {
            "VariantName": "AllTraffic",
            "Generation": 1,
            "DesiredInstanceCount": 1,
            "DesiredWeight": 0.5,
            "CurrentWeight": 1.0,
            "DeployedImages": [{"SpecifiedImage": "echo:1", "ResolvedImage": "echo@sha256:ab", "ResolutionTime": 9.5}],
        }
    ],
    "lastDeploymentConfig": POLICY,
    "update": {
        "config": NEW_CONFIG,
        "models": MODELS,
        "variants": [
            {"VariantName": "AllTraffic", "DesiredInstanceCount": 2, "DesiredWeight": 1.0, "CurrentWeight": 1.0}
        ],
        "policy": POLICY,
        "requestedPolicy": None,
        "phase": "Baking",
        "startTime": 100.0,
        "generation": 2,
    },
    "pending": PENDING,
}
OLD_JOB = {
    "model": MODELS["m"],
    "startTime": 50.0,
    "endTime": 60.0,
    "progress": {"FilesTotal": 1, "FilesCompleted": 1},
    "effective": {"MaxConcurrentTransforms": 1, "MaxPayloadInMB": 6, "BatchStrategy": "MultiRecord"},
}


def old_database(path: Path) -> None:
    """A state.db as schema version 2 left it, with one endpoint mid-update and one finished job."""
    with sqlite3.connect(path) as conn:
        for migration in MIGRATIONS[:2]:
            assert isinstance(migration, str)
            conn.executescript(migration)
        conn.execute("PRAGMA user_version = 2")
        for kind, name, state in (("endpoint", "Ep", OLD_ENDPOINT), ("transform-job", "Job", OLD_JOB)):
            conn.execute(
                "INSERT INTO resources (kind, name_key, name, arn, status, created, modified, spec, state)"
                " VALUES (?, ?, ?, ?, 'Updating', 1.0, 1.0, '{}', ?)",
                (kind, name.lower(), name, f"arn-{name}", json.dumps(state)),
            )
        conn.execute(
            "INSERT INTO resources (kind, name_key, name, arn, created, modified, spec)"
            " VALUES ('model', 'm', 'm', 'arn-m', 1.0, 1.0, '{\"ModelName\": \"m\"}')"
        )


def test_old_endpoint_state_is_read_back_typed(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    old_database(db)
    store = Store(db)
    assert store.schema_version == SCHEMA_VERSION >= 3
    rec = store.get("endpoint", "ep")
    assert rec is not None
    state = EndpointState.from_json(rec.state)
    assert (state.config, state.models, state.next_generation) == (CONFIG, MODELS, 3)
    assert state.last_deployment_config == POLICY
    assert state.variants == [
        VariantState(
            name="AllTraffic",
            desired_instance_count=1,
            desired_weight=0.5,
            current_weight=1.0,
            generation=1,
            deployed_images=[DeployedImage("echo:1", "echo@sha256:ab", 9.5)],
        )
    ]
    update = state.update
    assert update is not None
    assert (update.config, update.policy, update.requested_policy) == (NEW_CONFIG, POLICY, None)
    assert (update.phase, update.generation, update.start_time) == (DeploymentPhase.BAKING, 2, 100.0)
    assert update.variants == [VariantState("AllTraffic", 2, 1.0, 1.0)]
    # DescribeEndpoint renders the same PendingDeploymentSummary the old layout stored
    assert update.pending_summary() == PENDING
    assert EndpointState.from_json(state.to_json()) == state  # and the new form round-trips
    model = store.get("model", "m")
    assert model is not None and model.state == {}  # other kinds are left as they were
    store.close()


def test_old_transform_job_state_is_read_back_typed(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    old_database(db)
    store = Store(db)
    rec = store.get("transform-job", "job")
    assert rec is not None
    assert TransformJobState.from_json(rec.state) == TransformJobState(
        model=MODELS["m"],
        start_time=50.0,
        end_time=60.0,
        progress=OLD_JOB["progress"],  # type: ignore[arg-type]
        effective=OLD_JOB["effective"],  # type: ignore[arg-type]
    )
    store.close()
    reopened = Store(db)
    assert reopened.get("transform-job", "job") == rec  # reopening migrates nothing twice
    reopened.close()
