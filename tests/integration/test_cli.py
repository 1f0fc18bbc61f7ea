"""The CLI as a user's shell runs it: AWS-CLI-shaped options, shorthands and specs, JSON output and
--query, AWS-CLI error lines and exit codes, help examples, the daemon's lifecycle (auto-start,
status, the home lock) and the installed package layout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import typer
import yaml
from support import REPO, free_port
from typer.testing import CliRunner

from inferpipe.cli.main import app
from inferpipe.core import credentials
from inferpipe.core.version import VERSION

EXE = str(Path(sys.executable).parent / "inferpipe")
ARN_PREFIX = "arn:aws:sagemaker:us-east-1:000000000000"


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def run(
    env: dict[str, str], *args: str, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def ok(env: dict[str, str], *args: str, cwd: Path | None = None) -> Any:
    """Run a command that must succeed; its stdout parsed as JSON."""
    result = run(env, *args, cwd=cwd)
    assert result.returncode == 0, f"inferpipe {' '.join(args)}: {result.stderr}"
    return json.loads(result.stdout) if result.stdout.strip() else None


# create-model: shorthand, JSON files, specs ------------------------------------------------------
def test_create_model_container_shorthand_makes_relative_model_data_absolute(
    daemon: Any, sm: Any, tmp_path: Path
) -> None:
    name = uniq("shorthand")
    out = ok(
        daemon.env,
        "create-model",
        "--model-name",
        name,
        "--container",
        "image=example.com/prep:1,model-data=artifacts/prep.tar.gz,hostname=prep,env.LOG_LEVEL=debug,env.WORKERS=3",
        "--container",
        "image=example.com/model:1,model-data=./model-dir,hostname=model",
        "--container",
        "image=example.com/post:1,model-data=s3://bucket/post.tar.gz,hostname=post",
        "--output",
        "json",
        cwd=tmp_path,
    )
    assert out == {"ModelArn": f"{ARN_PREFIX}:model/{name.lower()}"}
    containers = sm.describe_model(ModelName=name)["Containers"]
    assert containers == [
        {
            "Image": "example.com/prep:1",
            "ModelDataUrl": str(tmp_path / "artifacts" / "prep.tar.gz"),
            "ContainerHostname": "prep",
            "Environment": {"LOG_LEVEL": "debug", "WORKERS": "3"},  # environment values stay strings
        },
        {"Image": "example.com/model:1", "ModelDataUrl": str(tmp_path / "model-dir"), "ContainerHostname": "model"},
        {"Image": "example.com/post:1", "ModelDataUrl": "s3://bucket/post.tar.gz", "ContainerHostname": "post"},
    ]


def test_create_model_relative_file_url_is_resolved_too(daemon: Any, sm: Any, tmp_path: Path) -> None:
    name = uniq("file-url")
    ok(
        daemon.env,
        "create-model",
        "--model-name",
        name,
        "--container",
        "image=x:1,model-data=file://m.tar.gz",
        cwd=tmp_path,
    )
    url = sm.describe_model(ModelName=name)["Containers"][0]["ModelDataUrl"]
    assert url == (tmp_path / "m.tar.gz").as_uri()


def test_create_model_containers_from_a_file(daemon: Any, sm: Any, tmp_path: Path) -> None:
    name = uniq("from-file")
    containers = [
        {"ContainerHostname": "a", "Image": "example.com/a:1", "ModelDataUrl": "a.tar.gz"},
        {"ContainerHostname": "b", "Image": "example.com/b:1", "Environment": {"K": "v"}},
    ]
    (tmp_path / "containers.json").write_text(json.dumps(containers))
    ok(
        daemon.env,
        "create-model",
        "--model-name",
        name,
        "--containers",
        "file://containers.json",
        "--inference-execution-config",
        '{"Mode": "Direct"}',
        "--execution-role-arn",
        "arn:aws:iam::123456789012:role/Role",
        "--tags",
        "Key=team,Value=ml",  # the AWS CLI's shorthand (was the non-AWS `team=ml`)
        cwd=tmp_path,
    )
    desc = sm.describe_model(ModelName=name)
    containers[0]["ModelDataUrl"] = str(tmp_path / "a.tar.gz")
    assert desc["Containers"] == containers
    assert desc["InferenceExecutionConfig"] == {"Mode": "Direct"}
    assert desc["ExecutionRoleArn"] == "arn:aws:iam::123456789012:role/Role"
    assert sm.list_tags(ResourceArn=desc["ModelArn"])["Tags"] == [{"Key": "team", "Value": "ml"}]


def test_create_model_primary_container_inline_json(daemon: Any, sm: Any) -> None:
    name = uniq("inline")
    ok(daemon.env, "create-model", "--model-name", name, "--primary-container", '{"Image": "example.com/one:1"}')
    assert sm.describe_model(ModelName=name)["PrimaryContainer"] == {"Image": "example.com/one:1"}


def test_pipeline_spec_works_for_create_model_and_create_endpoint_config(daemon: Any, sm: Any, tmp_path: Path) -> None:
    model, config = uniq("spec-model"), uniq("spec-config")
    spec_dir = tmp_path / "pipelines" / "churn"
    spec_dir.mkdir(parents=True)
    spec = {
        "model": {
            "ModelName": model,
            "Containers": [
                {"ContainerHostname": "prep", "Image": "example.com/prep:1", "ModelDataUrl": "artifacts/prep.tar.gz"},
                {"ContainerHostname": "model", "Image": "example.com/xgb:1", "ModelDataUrl": "artifacts/xgb.tar.gz"},
            ],
        },
        "endpointConfig": {
            "EndpointConfigName": config,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": model,
                    "InitialInstanceCount": 2,
                    "InstanceType": "ml.m5.large",
                }
            ],
        },
        "endpoint": {"EndpointName": uniq("never-created"), "EndpointConfigName": config},
    }
    (spec_dir / "pipeline.yaml").write_text(yaml.safe_dump(spec))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # run from another directory: model data paths are relative to the spec file
    ok(daemon.env, "create-model", "-f", str(spec_dir / "pipeline.yaml"), cwd=elsewhere)
    ok(daemon.env, "create-endpoint-config", "-f", str(spec_dir / "pipeline.yaml"), cwd=elsewhere)
    desc = sm.describe_model(ModelName=model)
    assert [c["ModelDataUrl"] for c in desc["Containers"]] == [
        str(spec_dir / "artifacts" / "prep.tar.gz"),
        str(spec_dir / "artifacts" / "xgb.tar.gz"),
    ]
    cfg = sm.describe_endpoint_config(EndpointConfigName=config)
    assert cfg["ProductionVariants"] == spec["endpointConfig"]["ProductionVariants"]
    # an endpoint spec section is not an instruction to create-endpoint-config: no endpoint appeared
    assert sm.list_endpoints(NameContains="never-created")["Endpoints"] == []


def test_whole_request_spec_in_json_with_option_override(daemon: Any, sm: Any, tmp_path: Path) -> None:
    name = uniq("json-spec")
    (tmp_path / "model.json").write_text(json.dumps({"ModelName": "overridden", "PrimaryContainer": {"Image": "x:1"}}))
    ok(daemon.env, "create-model", "-f", "model.json", "--model-name", name, cwd=tmp_path)
    assert sm.describe_model(ModelName=name)["PrimaryContainer"] == {"Image": "x:1"}
    assert sm.list_models(NameContains="overridden")["Models"] == []


def test_create_endpoint_config_variant_shorthand(daemon: Any, sm: Any) -> None:
    model, config = uniq("var-model"), uniq("var-config")
    sm.create_model(ModelName=model, PrimaryContainer={"Image": "x:1"})
    ok(
        daemon.env,
        "create-endpoint-config",
        "--endpoint-config-name",
        config,
        "--variant",
        f"name=Blue,model={model},instances=2,weight=0.7,instance-type=ml.m5.large",
        "--variant",
        f"name=Green,model={model},instances=1,weight=0.3",
    )
    variants = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
    assert variants == [
        {
            "VariantName": "Blue",
            "ModelName": model,
            "InitialInstanceCount": 2,
            "InitialVariantWeight": 0.7,
            "InstanceType": "ml.m5.large",
        },
        {"VariantName": "Green", "ModelName": model, "InitialInstanceCount": 1, "InitialVariantWeight": 0.3},
    ]


# output ------------------------------------------------------------------------------------------
def test_output_json_is_the_api_response_itself(daemon: Any) -> None:
    name = uniq("out-json")
    created = ok(daemon.env, "create-model", "--model-name", name, "--container", "image=x:1", "--output", "json")
    assert created == {"ModelArn": f"{ARN_PREFIX}:model/{name}"}
    described = ok(daemon.env, "--output", "json", "describe-model", "--model-name", name)
    wire = httpx.post(
        daemon.url + "/",
        content=json.dumps({"ModelName": name}),
        headers={"X-Amz-Target": "SageMaker.DescribeModel", "Content-Type": "application/x-amz-json-1.1"},
        auth=daemon.auth,
    ).json()
    assert described == wire
    listed = ok(daemon.env, "list-models", "--name-contains", name, "--output", "json")
    assert listed == {
        "Models": [{"ModelName": name, "ModelArn": created["ModelArn"], "CreationTime": wire["CreationTime"]}]
    }


def test_output_defaults_to_json_when_stdout_is_not_a_terminal(daemon: Any) -> None:
    name = uniq("no-tty")
    assert ok(daemon.env, "create-model", "--model-name", name, "--container", "image=x:1") == {
        "ModelArn": f"{ARN_PREFIX}:model/{name}"
    }


def test_output_table_is_for_people(daemon: Any, sm: Any) -> None:
    name = uniq("table")
    sm.create_model(ModelName=name, PrimaryContainer={"Image": "x:1"})
    result = run(daemon.env, "list-models", "--name-contains", name, "--output", "table")
    assert result.returncode == 0
    assert name in result.stdout and "ModelName" in result.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)


def test_query_is_jmespath_as_in_the_aws_cli(daemon: Any, sm: Any) -> None:
    prefix = uniq("query")
    arn = ok(
        daemon.env, "create-model", "--model-name", f"{prefix}-a", "--container", "image=x:1", "--query", "ModelArn"
    )
    assert arn == f"{ARN_PREFIX}:model/{prefix}-a"
    sm.create_model(ModelName=f"{prefix}-b", PrimaryContainer={"Image": "x:1"})
    names = ok(
        daemon.env, "list-models", "--name-contains", prefix, "--sort-by", "Name", "--query", "Models[].ModelName"
    )
    assert names == [f"{prefix}-b", f"{prefix}-a"]  # default order Descending, as the API's
    image = ok(daemon.env, "describe-model", "--model-name", f"{prefix}-a", "--query", "Containers[0].Image")
    assert image == "x:1"


def test_endpoint_config_cli_round_trip(daemon: Any, sm: Any) -> None:
    model, config = uniq("rt-model"), uniq("rt-config")
    sm.create_model(ModelName=model, PrimaryContainer={"Image": "x:1"})
    variants = json.dumps([{"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1}])
    ok(daemon.env, "create-endpoint-config", "--endpoint-config-name", config, "--production-variants", variants)
    desc = ok(daemon.env, "describe-endpoint-config", "--endpoint-config-name", config)
    assert desc["ProductionVariants"] == json.loads(variants)
    names = ok(
        daemon.env,
        "list-endpoint-configs",
        "--name-contains",
        config,
        "--query",
        "EndpointConfigs[].EndpointConfigName",
    )
    assert names == [config]
    # operations without output print nothing, as the AWS CLI (not "{}")
    deleted = run(daemon.env, "delete-endpoint-config", "--endpoint-config-name", config, "--output", "json")
    assert (deleted.returncode, deleted.stdout) == (0, "")
    deleted = run(daemon.env, "delete-model", "--model-name", model)
    assert (deleted.returncode, deleted.stdout) == (0, "")
    assert ok(daemon.env, "list-models", "--name-contains", model, "--query", "Models") == []


def test_tags_commands(daemon: Any, sm: Any) -> None:
    arn = sm.create_model(ModelName=uniq("cli-tags"), PrimaryContainer={"Image": "x:1"})["ModelArn"]
    ok(
        daemon.env,
        "add-tags",
        "--resource-arn",
        arn,
        "--tags",  # the AWS CLI's shorthand, one tag per value (was the non-AWS `--tags team=ml --tags ...`)
        "Key=team,Value=ml",
        "Key=stage,Value=dev",
        "Key=équipe,Value=données",
    )
    listed = run(daemon.env, "list-tags", "--resource-arn", arn)
    assert '"équipe"' in listed.stdout  # UTF-8 as is, as the AWS CLI prints it
    assert json.loads(listed.stdout) == {
        "Tags": [
            {"Key": "team", "Value": "ml"},
            {"Key": "stage", "Value": "dev"},
            {"Key": "équipe", "Value": "données"},
        ]
    }
    ok(daemon.env, "delete-tags", "--resource-arn", arn, "--tag-keys", "team")  # a list of one
    assert ok(daemon.env, "list-tags", "--resource-arn", arn, "--query", "Tags[].Key") == ["stage", "équipe"]


# errors and exit codes ---------------------------------------------------------------------------
def test_api_errors_go_to_stderr_in_the_aws_cli_form_with_exit_254(daemon: Any) -> None:
    result = run(daemon.env, "create-model", "--model-name", "bad_name", "--container", "image=x:1")
    assert result.returncode == 254
    assert result.stdout == ""
    assert result.stderr == (
        "An error occurred (ValidationException) when calling the CreateModel operation: 1 validation error"
        " detected: Value 'bad_name' at 'modelName' failed to satisfy constraint: Member must satisfy regular"
        " expression pattern: ^[a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?\n"
    )
    missing = uniq("Missing")
    result = run(daemon.env, "describe-model", "--model-name", missing)
    assert result.returncode == 254
    assert result.stderr == (
        "An error occurred (ValidationException) when calling the DescribeModel operation:"
        f' Could not find model "{ARN_PREFIX}:model/{missing.lower()}".\n'
    )
    result = run(daemon.env, "delete-endpoint-config", "--endpoint-config-name", missing)
    assert result.returncode == 254
    assert result.stderr.startswith(
        "An error occurred (ValidationException) when calling the DeleteEndpointConfig operation: Could not find"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["create-model", "--model-nam", "x"],
        ["describe-model"],
        ["no-such-command"],
        ["list-models", "--output", "yml"],
        ["list-models", "--max-results", "many"],
        ["list-models", "--query", "Models["],
        ["create-model", "--model-name", "usage-err", "--container", "image=x:1,colour=blue"],
        ["create-model", "--model-name", "usage-err", "--containers", "file:///no/such/file.json"],
        ["create-model", "-f", "/no/such/spec.yaml"],
    ],
    ids=[
        "misspelt-option",
        "missing-required",
        "unknown-command",
        "bad-output",
        "not-an-int",
        "bad-query",
        "bad-shorthand-key",
        "missing-file",
        "missing-spec",
    ],
)
def test_usage_errors_exit_252_and_call_nothing(daemon: Any, sm: Any, args: list[str]) -> None:
    before = sm.list_models(NameContains="usage-err")["Models"]
    result = run(daemon.env, *args)
    assert result.returncode == 252, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip()
    assert sm.list_models(NameContains="usage-err")["Models"] == before == []


def test_no_daemon_at_the_given_url_is_a_clear_error(daemon: Any) -> None:
    env = dict(daemon.env, INFERPIPE_URL=f"http://127.0.0.1:{free_port()}")
    result = run(env, "list-models")
    assert result.returncode == 255
    assert "No inferpipe daemon answers at" in result.stderr


def all_commands() -> Iterator[list[str]]:
    def walk(cmd: Any, path: list[str]) -> Iterator[list[str]]:
        yield path
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, [*path, name])

    yield from walk(typer.main.get_command(app), [])


def test_every_command_help_shows_an_example() -> None:
    runner = CliRunner()
    commands = list(all_commands())
    assert len(commands) > 20 and ["create-model"] in commands and ["daemon", "status"] in commands
    missing = []
    for path in commands:
        result = runner.invoke(app, [*path, "--help"], prog_name="inferpipe", terminal_width=120)
        assert result.exit_code == 0, (path, result.output)
        if "Example" not in result.output or "inferpipe " + " ".join(path) not in result.output:
            missing.append(" ".join(path) or "<root>")
    assert missing == []


def test_help_examples_keep_their_line_continuations() -> None:
    result = subprocess.run(
        [EXE, "create-model", "--help"], capture_output=True, text=True, env=dict(os.environ, COLUMNS="160"), timeout=30
    )
    assert result.returncode == 0
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "inferpipe create-model --model-name churn \\" in lines
    assert "--container image=prep:1,model-data=./prep.tar.gz,hostname=prep \\" in lines


# the daemon --------------------------------------------------------------------------------------
def test_daemon_status_json(daemon: Any) -> None:
    status = ok(daemon.env, "daemon", "status", "--output", "json")
    assert status["url"] == daemon.url
    assert status["pid"] == daemon.proc.pid
    assert status["version"] == VERSION
    assert status["home"] == str(daemon.home.resolve())


def test_daemon_status_exits_1_when_none_answers(daemon: Any, tmp_path: Path) -> None:
    env = dict(daemon.env, INFERPIPE_HOME=str(tmp_path), INFERPIPE_PORT=str(free_port()))
    env.pop("INFERPIPE_URL")
    result = run(env, "daemon", "status", "--output", "json")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "No inferpipe daemon answers" in result.stderr
    assert not (tmp_path / "state.db").exists()  # status never starts one


@pytest.fixture
def fresh_home(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A user's shell with a home of its own and nothing running: no INFERPIPE_URL."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFERPIPE_", "AWS_"))}
    env.update(INFERPIPE_HOME=str(home), INFERPIPE_PORT=str(free_port()))
    yield env
    stop = run(env, "daemon", "stop")
    assert stop.returncode == 0, stop.stderr
    shutil.rmtree(home, ignore_errors=True)


def test_first_command_starts_the_daemon_and_boto3_sees_its_work(fresh_home: dict[str, str], tmp_path: Path) -> None:
    home = Path(fresh_home["INFERPIPE_HOME"])
    assert not home.exists()
    out = ok(fresh_home, "create-model", "--model-name", "auto-started", "--container", "image=x:1", cwd=tmp_path)
    assert out == {"ModelArn": f"{ARN_PREFIX}:model/auto-started"}
    status = ok(fresh_home, "daemon", "status", "--output", "json")
    assert status["home"] == str(home.resolve())
    assert status["url"] == f"http://127.0.0.1:{fresh_home['INFERPIPE_PORT']}"
    assert (home / "state.db").exists() and (home / "daemon.log").exists()
    creds = credentials.load(home)
    assert creds is not None
    sm = boto3.client(
        "sagemaker",
        endpoint_url=status["url"],
        region_name=creds.region,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
    )
    assert sm.describe_model(ModelName="auto-started")["Containers"] == [{"Image": "x:1"}]
    # the next command reuses that daemon rather than starting another
    ok(fresh_home, "list-models")
    assert ok(fresh_home, "daemon", "status", "--output", "json")["pid"] == status["pid"]


def test_second_daemon_on_the_same_home_refuses_to_start(daemon: Any) -> None:
    env = dict(daemon.env, INFERPIPE_PORT=str(free_port()))
    result = subprocess.run(
        [sys.executable, "-m", "inferpipe.core.daemon"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert f"Another inferpipe daemon (pid {daemon.proc.pid}) owns {daemon.home.resolve()}" in result.stderr
    # and the first one is unharmed
    assert daemon.cli_json("daemon", "status")["pid"] == daemon.proc.pid


# packaging ---------------------------------------------------------------------------------------
def test_installed_package_has_no_top_level_cli_or_core(tmp_path: Path) -> None:
    probe = (
        "import importlib.util, importlib.metadata as md, json;"
        "d = md.distribution('inferpipe');"
        "print(json.dumps({"
        "'cli': importlib.util.find_spec('cli') is None,"
        "'core': importlib.util.find_spec('core') is None,"
        "'ns': importlib.util.find_spec('inferpipe.cli') is not None"
        " and importlib.util.find_spec('inferpipe.core') is not None,"
        "'top': (d.read_text('top_level.txt') or '').split(),"
        "'script': [e.value for e in d.entry_points if e.name == 'inferpipe']}))"
    )
    # run outside the source tree, so the repository's own cli/ and core/ are not on sys.path
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    script = found.pop("script")
    assert found == {"cli": True, "core": True, "ns": True, "top": ["inferpipe"]}
    assert len(script) == 1 and script[0].startswith("inferpipe.cli"), (
        script
    )  # the console script lives in the namespace


def test_built_distribution_holds_only_the_inferpipe_namespace(tmp_path: Path) -> None:
    """What `pip install .` would put in site-packages: setuptools' build_py of a clean copy."""
    src = tmp_path / "src"
    src.mkdir()
    for item in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / item, src / item)
    for pkg in ("cli", "core"):
        shutil.copytree(REPO / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        [sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py", "--build-lib", "out"],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = src / "out"
    assert sorted(p.name for p in out.iterdir()) == ["inferpipe"]
    assert sorted(p.name for p in (out / "inferpipe").iterdir()) == ["cli", "core"]
    assert (out / "inferpipe" / "cli" / "main.py").exists() and (out / "inferpipe" / "core" / "daemon.py").exists()
