"""AWS CLI lines pasted as they are: the same line run through the real AWS CLI (PyPI's awscli,
pointed at the daemon with --endpoint-url) and through inferpipe, the results compared.

PyPI's awscli is v1, whose exit codes differ from v2's (2 for a usage error, 255 for a service
error); inferpipe exits as v2 does (252, 254, 255), so the tests compare success or failure with
the AWS CLI and check inferpipe's code against v2's table."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent
INFERPIPE = str(BIN / "inferpipe")
AWS = str(BIN / "aws")
VOLATILE = (
    "ResponseMetadata",
    "CreationTime",
    "LastModifiedTime",
    "ModelArn",
    "ModelName",
    "EndpointConfigArn",
    "EndpointConfigName",
)


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def aws_env(daemon: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if not Path(AWS).exists():
        pytest.fail("the AWS CLI (awscli, the test extra) is not installed beside this Python")
    work = tmp_path_factory.mktemp("aws")
    c = daemon.credentials
    env = {k: v for k, v in daemon.env.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=c.access_key_id,
        AWS_SECRET_ACCESS_KEY=c.secret_access_key,
        AWS_DEFAULT_REGION=c.region,
        AWS_CONFIG_FILE=str(work / "config"),  # never the user's own files
        AWS_SHARED_CREDENTIALS_FILE=str(work / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_PAGER="",
    )
    return env


def aws(env: dict[str, str], daemon: Any, *line: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AWS, "--endpoint-url", daemon.url, "sagemaker", *line], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def ours(env: dict[str, str], *line: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INFERPIPE, *line], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def both(env: dict[str, str], daemon: Any, *line: str, cwd: Path | None = None) -> tuple[Any, Any]:
    """The line through both CLIs, which must both succeed; their stdout parsed as JSON."""
    a, o = aws(env, daemon, *line, cwd=cwd), ours(env, *line, cwd=cwd)
    assert a.returncode == 0, a.stderr
    assert o.returncode == 0, o.stderr
    parse = lambda out: json.loads(out) if out.strip() else None  # noqa: E731
    return parse(a.stdout), parse(o.stdout)


def stable(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: stable(v) for k, v in doc.items() if k not in VOLATILE}
    if isinstance(doc, list):
        return [stable(v) for v in doc]
    return doc


def test_create_model_shorthand_lines_make_the_same_model(daemon: Any, sm: Any, aws_env: dict[str, str]) -> None:
    names = uniq("aws-line"), uniq("ours-line")
    line = [
        "--primary-container", "Image=registry.local/xgb:1,ModelDataUrl=s3://bucket/model.tar.gz,Environment={A=1,B=two}",
        "--tags", "Key=team,Value=ml", "Key=stage,Value=dev",
        "--no-enable-network-isolation",
    ]  # fmt: skip
    a = aws(aws_env, daemon, "create-model", "--model-name", names[0], *line)
    o = ours(aws_env, "create-model", "--model-name", names[1], *line)
    assert (a.returncode, o.returncode) == (0, 0), (a.stderr, o.stderr)
    assert json.loads(o.stdout)["ModelArn"].endswith(names[1])
    described = [stable(sm.describe_model(ModelName=n)) for n in names]
    assert described[0] == described[1]
    assert described[1]["PrimaryContainer"]["Environment"] == {"A": "1", "B": "two"}
    tags = [sm.list_tags(ResourceArn=sm.describe_model(ModelName=n)["ModelArn"])["Tags"] for n in names]
    assert tags[0] == tags[1] == [{"Key": "team", "Value": "ml"}, {"Key": "stage", "Value": "dev"}]
    arn = sm.describe_model(ModelName=names[1])["ModelArn"]
    got = both(aws_env, daemon, "list-tags", "--resource-arn", arn, "--query", "Tags[].Key")
    assert got == (["team", "stage"], ["team", "stage"])
    assert ours(aws_env, "delete-tags", "--resource-arn", arn, "--tag-keys", "team", "stage").returncode == 0
    assert sm.list_tags(ResourceArn=arn)["Tags"] == []


def test_endpoint_config_variants_shorthand(daemon: Any, sm: Any, aws_env: dict[str, str]) -> None:
    model = uniq("cfg-model")
    sm.create_model(ModelName=model, PrimaryContainer={"Image": "x:1"})
    names = uniq("aws-cfg"), uniq("ours-cfg")
    variants = (
        f"VariantName=A,ModelName={model},InitialInstanceCount=2,InstanceType=ml.m5.large,InitialVariantWeight=0.5"
    )
    for cli, name in ((aws, names[0]), (ours, names[1])):
        args = ("create-endpoint-config", "--endpoint-config-name", name, "--production-variants", variants)
        result = cli(aws_env, daemon, *args) if cli is aws else cli(aws_env, *args)
        assert result.returncode == 0, result.stderr
    a, o = (stable(sm.describe_endpoint_config(EndpointConfigName=n)) for n in names)
    assert a == o
    assert o["ProductionVariants"][0]["InitialInstanceCount"] == 2


def test_cli_input_json_and_skeletons(daemon: Any, sm: Any, aws_env: dict[str, str], tmp_path: Path) -> None:
    a_skel, o_skel = both(aws_env, daemon, "describe-model", "--generate-cli-skeleton")
    assert a_skel == o_skel == {"ModelName": ""}
    a_skel, o_skel = both(aws_env, daemon, "create-model", "--generate-cli-skeleton", "input")

    def keys(doc: Any) -> Any:  # botocore picks enum values at random: compare the layout
        if isinstance(doc, dict):
            return {k: keys(v) for k, v in doc.items()}
        if isinstance(doc, list):
            return [keys(v) for v in doc]
        return type(doc).__name__

    assert keys(a_skel) == keys(o_skel)
    # (PyPI's awscli v1 validates its own sample response against the model and fails: ours alone)
    out = ours(aws_env, "describe-model", "--model-name", "x", "--generate-cli-skeleton", "output")
    assert out.returncode == 0, out.stderr
    sample = json.loads(out.stdout)
    assert sample["ModelName"] == "ModelName" and sample["PrimaryContainer"]["Image"] == "Image"
    assert sm.list_models(NameContains="skeleton")["Models"] == []  # nothing was called

    names = uniq("aws-input"), uniq("ours-input")
    doc = tmp_path / "request.json"
    doc.write_text(json.dumps({"ModelName": "overridden", "PrimaryContainer": {"Image": "x:1"}}))
    for cli, name in ((aws, names[0]), (ours, names[1])):
        args = ("create-model", "--cli-input-json", f"file://{doc}", "--model-name", name)
        result = cli(aws_env, daemon, *args) if cli is aws else cli(aws_env, *args)
        assert result.returncode == 0, result.stderr
    assert stable(sm.describe_model(ModelName=names[0])) == stable(sm.describe_model(ModelName=names[1]))


def test_list_commands_paginate_over_every_page(daemon: Any, sm: Any, aws_env: dict[str, str]) -> None:
    prefix = uniq("pages")
    for i in range(13):  # more than one page of the daemon's default page size (10)
        sm.create_model(ModelName=f"{prefix}-{i:02d}", PrimaryContainer={"Image": "x:1"})
    line = ("list-models", "--name-contains", prefix, "--sort-by", "Name", "--sort-order", "Ascending")
    a, o = both(aws_env, daemon, *line, "--query", "Models[].ModelName")
    assert a == o == [f"{prefix}-{i:02d}" for i in range(13)]
    a, o = both(aws_env, daemon, *line, "--max-results", "5", "--query", "Models[].ModelName")
    assert a == o and len(o) == 5  # naming the page size turns pagination off, as in the AWS CLI


@pytest.mark.parametrize(
    ("line", "code", "stderr"),
    [
        (["describe-model"], 252, "the following arguments are required: --model-name"),
        (
            ["create-model", "--model-name", "bad-line", "--primary-container", "Image=x:1,Colour=blue"],
            252,
            'Unknown parameter in PrimaryContainer: "Colour", must be one of:',
        ),
        (
            ["add-tags", "--resource-arn", "arn:aws:sagemaker:us-east-1:000000000000:model/x", "--tags", "Key=team"],
            252,
            'Missing required parameter in Tags[0]: "Value"',
        ),
        (["create-model", "--model-name", "bad-line", "--primary-container", "Image"], 252, "Error parsing parameter"),
        (["describe-model", "--model-name", "no-such-model"], 254, "An error occurred (ValidationException)"),
        (
            ["wait", "endpoint-in-service", "--endpoint-name", "no-such-endpoint"],
            255,
            "Waiter EndpointInService failed: Waiter encountered a terminal failure state:"
            " Matched expected service error code: ValidationException",
        ),
    ],
    ids=["missing-required", "unknown-key", "tag-without-value", "bad-shorthand", "service-error", "waiter"],
)
def test_error_lines_fail_as_the_aws_cli_does(
    daemon: Any, sm: Any, aws_env: dict[str, str], line: list[str], code: int, stderr: str
) -> None:
    a, o = aws(aws_env, daemon, *line), ours(aws_env, *line)
    assert a.returncode != 0 and stderr in a.stderr, a.stderr
    assert (o.returncode, o.stdout) == (code, ""), o.stderr
    assert stderr in o.stderr
    assert sm.list_models(NameContains="bad-line")["Models"] == []


def test_global_options_are_accepted_anywhere(daemon: Any, aws_env: dict[str, str]) -> None:
    line = ["list-models", "--max-results", "1", "--color", "off", "--cli-read-timeout", "30"]
    a, o = both(aws_env, daemon, *line, "--cli-connect-timeout", "5", "--query", "length(Models)")
    assert a == o
    # --no-cli-pager is the AWS CLI v2's (v1 refuses it): accepted, inferpipe never pages
    paged = ours(aws_env, *line, "--no-cli-pager", "--query", "length(Models)")
    assert (paged.returncode, paged.stdout) == (0, f"{o}\n"), paged.stderr
    debug = ours(aws_env, "--debug", "describe-model", "--model-name", "no-such-model")
    assert debug.returncode == 254 and "DEBUG" in debug.stderr and "SageMaker.DescribeModel" in debug.stderr
    missing = ours(aws_env, "list-models", "--profile", "no-such-profile")
    assert (missing.returncode, missing.stderr) == (253, "The config profile (no-such-profile) could not be found\n")


def test_help_lists_every_member_flag_of_the_model(aws_env: dict[str, str]) -> None:
    env = dict(aws_env, COLUMNS="200")
    for command, flags in (
        ("create-endpoint-config", ["--data-capture-config", "--kms-key-id", "--production-variants", "--variant"]),
        ("create-model", ["--vpc-config", "--enable-network-isolation | --no-enable-network-isolation", "--container"]),
        ("list-transform-jobs", ["--last-modified-time-after", "--status-equals", "--generate-cli-skeleton"]),
    ):
        shown = ours(env, command, "--help")
        assert shown.returncode == 0, shown.stderr
        assert [f for f in flags if f not in shown.stdout] == []


def test_yaml_skeleton_and_yaml_input(daemon: Any, sm: Any, aws_env: dict[str, str], tmp_path: Path) -> None:
    skeleton = ours(aws_env, "describe-endpoint-config", "--generate-cli-skeleton", "yaml-input")
    assert (skeleton.returncode, skeleton.stdout) == (0, "EndpointConfigName: ''\n")
    name = uniq("yaml-input")
    request = tmp_path / "model.yaml"
    request.write_text(f"ModelName: {name}\nPrimaryContainer:\n  Image: x:1\n  Environment:\n    A: '1'\n")
    made = ours(aws_env, "create-model", "--cli-input-yaml", f"file://{request}")
    assert made.returncode == 0, made.stderr
    assert sm.describe_model(ModelName=name)["PrimaryContainer"]["Environment"] == {"A": "1"}
