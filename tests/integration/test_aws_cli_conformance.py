"""The CLI as a drop-in for `aws sagemaker`: the same command lines run through the real AWS CLI (v1,
from PyPI, the reference) and through `inferpipe`, against one daemon, must give the same outcome:
success or failure, the same output once parsed (JSON as data; text and table output byte for
byte) and the same error line.

Every line is a plain data row (LINES): add one to cover a command or flag. Two things cannot be
compared as printed: an input skeleton's enum members hold a value botocore's ArgumentGenerator
picks at random (so its keys are compared), and `--generate-cli-skeleton output` fails in the AWS
CLI v1 itself (so it is compared with botocore's ArgumentGenerator directly).
"""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support import DaemonHandle, cleanup, make_daemon

from inferpipe.cli import awsconfig

BIN = Path(sys.executable).parent
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/conformance"
MODELS = 15  # more than one page of the service's default 10
# The AWS CLI v1 exits 252 (or argparse's 2) for a usage error and 255 for everything else; v2
# tells a service error (254) and a client-side validation or paging error (252) apart. So a v1
# 255 is mapped by what v1 printed: the service's error, or botocore's parameter validation and
# the paginator's refusals (usage errors, exit 252 in inferpipe), or anything else (255).
V2_USAGE_ERRORS = ("Parameter validation failed", "Error during pagination", "Cannot specify --no-paginate")


def v2_exit(v1_code: int, v1_stderr: str) -> int:
    if v1_code in (2, 252):
        return 252
    if "An error occurred (" in v1_stderr:
        return 254
    if any(text in v1_stderr for text in V2_USAGE_ERRORS):
        return 252
    return 255


@dataclass(frozen=True)
class Line:
    """One command line, as typed after `aws sagemaker` or `inferpipe`. Placeholders: {p} the
    prefix of the resources seeded once; {name} a fresh name for each of the two runs (created by
    ``setup`` when the line needs it to exist), put back as {name} in what is compared."""

    args: str
    setup: Callable[[Any, str, str], None] | None = None
    compare_error_line: bool = True  # False for usage errors: argparse and click word them apart
    keys_only: bool = False  # compare the JSON printed by its keys (values chosen at random)


def _model(sm: Any, p: str, name: str) -> None:
    sm.create_model(ModelName=name, PrimaryContainer={"Image": "x:1"}, ExecutionRoleArn=ROLE)


def _config(sm: Any, p: str, name: str) -> None:
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "v", "ModelName": f"{p}-00", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )


def variants(instance_type: str = "ml.m5.large", **extra: str) -> str:
    variant = {
        "VariantName": "v",
        "ModelName": "{p}-00",
        "InitialInstanceCount": 1,
        "InstanceType": instance_type,
        **extra,
    }
    return shlex.quote(json.dumps([variant]))


def starting_token(service_token: str | None, skip: int) -> str:
    """A token as botocore's TokenEncoder writes it (an independent copy, to feed both CLIs)."""
    return base64.b64encode(json.dumps({"NextToken": service_token, "boto_truncate_amount": skip}).encode()).decode()


MODEL_ARN = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model/{{p}}-01"
TRANSFORM = (
    '--transform-input \'{"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "/nonexistent"}}}\''
    ' --transform-output \'{"S3OutputPath": "/nonexistent-out"}\''
)

LINES: list[Line] = [
    # pagination: more than one page, --max-items, --starting-token, --page-size, --no-paginate
    Line("list-models --name-contains {p} --sort-by Name --sort-order Ascending"),
    Line("list-models --name-contains {p} --query length(Models)"),
    Line("list-models --name-contains {p} --sort-by Name --max-items 4"),
    Line(f"list-models --name-contains {{p}} --sort-by Name --max-items 4 --starting-token {starting_token(None, 4)}"),
    Line("list-models --name-contains {p} --sort-by Name --max-items 12 --page-size 5 --query Models[].ModelName"),
    Line("list-models --name-contains {p} --page-size 4 --output text --query Models[].ModelName"),
    Line("list-models --name-contains {p} --sort-by Name --max-items 3 --output text"),
    Line("list-models --name-contains {p} --sort-by Name --max-items 2 --output table"),
    Line("list-models --name-contains {p} --no-paginate --query length(Models)"),
    Line("list-models --name-contains {p} --max-results 3 --query length(Models)"),
    Line("list-models --name-contains {p} --no-paginate --max-items 2"),
    Line("list-endpoint-configs --name-contains {p} --page-size 2 --output text"),
    Line(
        "list-endpoint-configs --name-contains {p} --sort-by Name --output table"
        " --query EndpointConfigs[].EndpointConfigName"
    ),
    Line(f"list-tags --resource-arn {MODEL_ARN.replace('-01', '-00')} --output text"),
    Line(f"list-tags --resource-arn {MODEL_ARN.replace('-01', '-00')} --max-items 3"),
    Line("list-endpoints"),
    Line("list-endpoints --output text"),
    Line("list-transform-jobs --output table"),
    # output formats
    Line("list-models --name-contains {p} --sort-by Name --output table"),
    Line("describe-model --model-name {p}-00 --output table"),
    Line("describe-model --model-name {p}-00 --output text"),
    Line("describe-model --model-name {p}-00 --query ModelArn --output text"),
    Line("describe-model --model-name {p}-00 --query PrimaryContainer"),
    Line("describe-endpoint-config --endpoint-config-name {p}-cfg-0 --output table"),
    Line("describe-endpoint-config --endpoint-config-name {p}-cfg-0 --output text"),
    Line("--output text describe-model --model-name {p}-00 --query '[ModelName, ExecutionRoleArn]'"),
    # every other supported control-plane operation
    Line(f'create-model --model-name {{name}} --primary-container \'{{"Image": "x:1"}}\' --execution-role-arn {ROLE}'),
    Line("create-endpoint-config --endpoint-config-name {name} --production-variants " + variants("ml.m5.large")),
    Line(
        "create-endpoint-config --endpoint-config-name {name} --production-variants " + variants("ml.p6-b200.48xlarge")
    ),
    Line(f'add-tags --resource-arn {MODEL_ARN} --tags \'[{{"Key": "team", "Value": "ml"}}]\''),
    Line(f"delete-tags --resource-arn {MODEL_ARN} --tag-keys team"),
    Line("delete-model --model-name {name}", setup=_model),
    Line("delete-endpoint-config --endpoint-config-name {name}", setup=_config),
    # error lines: the service's message, as the AWS CLI prints it
    Line("describe-model --model-name {p}-missing"),
    Line("delete-model --model-name {p}-missing"),
    Line("describe-endpoint-config --endpoint-config-name {p}-missing"),
    Line("delete-endpoint-config --endpoint-config-name {p}-missing"),
    Line("describe-endpoint --endpoint-name {p}-missing"),
    Line("delete-endpoint --endpoint-name {p}-missing"),
    Line("create-endpoint --endpoint-name {name} --endpoint-config-name {p}-missing"),
    Line("update-endpoint --endpoint-name {p}-missing --endpoint-config-name {p}-cfg-0"),
    Line(
        "update-endpoint-weights-and-capacities --endpoint-name {p}-missing"
        ' --desired-weights-and-capacities \'[{"VariantName": "v", "DesiredWeight": 1}]\''
    ),
    Line("describe-transform-job --transform-job-name {p}-missing"),
    Line("stop-transform-job --transform-job-name {p}-missing"),
    Line(
        f"create-transform-job --transform-job-name {{name}} --model-name {{p}}-00 {TRANSFORM}"
        ' --transform-resources \'{"InstanceType": "ml.foo.bar", "InstanceCount": 1}\''
    ),
    Line(f"create-endpoint-config --endpoint-config-name {{name}} --production-variants {variants('ml.foo.bar')}"),
    Line(
        f"create-endpoint-config --endpoint-config-name {{name}} --production-variants"
        f" {variants(AcceleratorType='ml.eia9.huge', InferenceAmiVersion='al2-latest')}"
    ),
    Line("list-models --sort-by Size"),
    Line("describe-model", compare_error_line=False),
    Line("list-models --output yml", compare_error_line=False),
    # shorthand, input files, skeletons, client-side checks of required members
    Line("create-model --model-name {name} --primary-container Image=x:1,Environment={A=1}"),
    Line(f"add-tags --resource-arn {MODEL_ARN} --tags Key=team,Value=ml Key=env,Value=dev"),
    Line(f"delete-tags --resource-arn {MODEL_ARN} --tag-keys team env"),
    Line('create-model --cli-input-json \'{"ModelName": "{name}", "PrimaryContainer": {"Image": "x:1"}}\''),
    Line("create-model --generate-cli-skeleton", keys_only=True),
    Line("create-endpoint-config --generate-cli-skeleton input", keys_only=True),
    Line('create-model --model-name {name} --primary-container \'{"Image": "x:1"}\' --tags \'[{"Key": "t"}]\''),
    Line("create-model --primary-container Image=x:1", compare_error_line=False),
    # the model registry's commands: the same member flags, shorthand and errors
    Line(
        "create-model-package-group --model-package-group-name {name}"
        " --model-package-group-description 'the wine pipeline' --tags Key=team,Value=ml"
    ),
    Line("describe-model-package-group --model-package-group-name {p}-missing"),
    Line("list-model-package-groups --name-contains {p}-none"),
    Line("create-model-package-group", compare_error_line=False),
]


def _id(line: Line) -> str:
    return line.args[:90]


@dataclass
class Clis:
    daemon: DaemonHandle
    prefix: str
    aws_env: dict[str, str]
    # Each line's exit codes (AWS CLI, inferpipe), kept for the exit-code check.
    exits: dict[str, tuple[int, int, str]] = field(default_factory=dict)

    def run(self, tool: str, line: Line, name: str) -> subprocess.CompletedProcess[str]:
        args = shlex.split(line.args.replace("{p}", self.prefix).replace("{name}", name))
        if line.setup is not None:
            line.setup(self.daemon.client(), self.prefix, name)
        if tool == "aws":
            command = [str(BIN / "aws"), "sagemaker", *args, "--endpoint-url", self.daemon.url]
        else:
            command = [str(BIN / "inferpipe"), *args]
        return subprocess.run(command, env=self.aws_env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def clis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clis]:
    """One daemon of its own (list output must not see other tests' resources), seeded with more
    models than one page holds, a few endpoint configs and tags."""
    d = make_daemon()
    d.start()
    try:
        prefix = f"conf{uuid.uuid4().hex[:6]}"
        sm = d.client()
        for i in range(MODELS):
            _model(sm, prefix, f"{prefix}-{i:02d}")
        for i in range(5):
            _config(sm, prefix, f"{prefix}-cfg-{i}")
        arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model/{prefix}-00"
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": f"k{i:02d}", "Value": f"v{i}"} for i in range(8)])
        aws_dir = tmp_path_factory.mktemp("aws")
        env = {k: v for k, v in d.env.items() if not k.startswith("AWS_")}
        env.update(awsconfig.exports(d.url, d.credentials))
        # Nothing from the user's own AWS setup: no profile, no config, no pager.
        env.update(
            AWS_CONFIG_FILE=str(aws_dir / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(aws_dir / "credentials"),
            AWS_PAGER="",
            COLUMNS="80",
        )
        yield Clis(d, prefix, env)
    finally:
        cleanup(d)


def keys(value: Any) -> Any:
    """The structure of a JSON value: its keys and list lengths, every leaf replaced by its type."""
    if isinstance(value, dict):
        return {k: keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [keys(v) for v in value]
    return type(value).__name__


def outcome(result: subprocess.CompletedProcess[str], name: str, line: Line) -> dict[str, Any]:
    """What a user (or a script) gets from a command line, with the fresh name put back."""
    stdout = result.stdout.replace(name, "{name}")
    try:
        parsed: Any = json.loads(stdout) if stdout.strip() else None
    except ValueError:
        parsed = stdout  # text and table output: compared as printed
    if line.keys_only:
        parsed = keys(parsed)
    errors = [ln for ln in result.stderr.replace(name, "{name}").splitlines() if ln.strip()]
    error_line = errors[-1] if result.returncode and errors and line.compare_error_line else None
    return {"succeeded": result.returncode == 0, "stdout": parsed, "error": error_line}


@pytest.mark.parametrize("line", [pytest.param(line, id=_id(line)) for line in LINES])
def test_same_outcome_as_the_aws_cli(clis: Clis, line: Line) -> None:
    # fresh names outside {p}: what the lines create must not show in the lists of {p}
    aws_name, our_name = f"new-a{uuid.uuid4().hex[:8]}", f"new-i{uuid.uuid4().hex[:8]}"
    aws = clis.run("aws", line, aws_name)
    ours = clis.run("inferpipe", line, our_name)
    clis.exits[line.args] = (aws.returncode, ours.returncode, aws.stderr)
    expected, got = outcome(aws, aws_name, line), outcome(ours, our_name, line)
    if line.keys_only and got["succeeded"]:
        # The AWS CLI v1 bundles a botocore of its own, older than the one inferpipe reads: its
        # skeleton may lack the newest members. Every member it prints is compared; ours must
        # also be exactly botocore's (the newer model's) skeleton.
        operation = "".join(word.capitalize() for word in shlex.split(line.args)[0].split("-"))
        assert got["stdout"] == keys(_botocore_skeleton(operation, "input"))
        got["stdout"] = _common(got["stdout"], expected["stdout"])
    assert got == expected, f"aws stderr: {aws.stderr}\ninferpipe stderr: {ours.stderr}"


def _common(ours: Any, theirs: Any) -> Any:
    """``ours`` with only the keys ``theirs`` has (recursively)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return {k: _common(v, theirs[k]) for k, v in ours.items() if k in theirs}
    if isinstance(ours, list) and isinstance(theirs, list):
        return [_common(a, b) for a, b in zip(ours, theirs, strict=False)] + ours[len(theirs) :]
    return ours


def _botocore_skeleton(operation: str, kind: str) -> Any:
    """What the AWS CLI v2 prints for --generate-cli-skeleton: botocore's ArgumentGenerator over
    the operation's shape in botocore's full model (inferpipe reads a cached extract of it)."""
    import botocore.session
    from botocore.utils import ArgumentGenerator

    operation_model = botocore.session.get_session().get_service_model("sagemaker").operation_model(operation)
    if kind == "input":
        return ArgumentGenerator().generate_skeleton(operation_model.input_shape)
    return ArgumentGenerator(use_member_names=True).generate_skeleton(operation_model.output_shape)


def test_exit_codes_are_the_aws_cli_v2s(clis: Clis) -> None:
    """The AWS CLI v1's exit code of every failing line, mapped to v2's (v2_exit), is inferpipe's
    (the codes the line-by-line test saw: it runs first)."""
    failing = {args: codes for args, codes in clis.exits.items() if codes[0] != 0}
    assert failing, "no line has failed yet: run the whole module"
    mismatches = [(args, aws, ours) for args, (aws, ours, stderr) in failing.items() if ours != v2_exit(aws, stderr)]
    assert not mismatches


def test_a_token_printed_by_one_cli_resumes_in_the_other(clis: Clis) -> None:
    """--max-items cuts mid-page, past the first page: the NextToken then carries the service's
    token and an offset, and each CLI resumes from the other's."""
    cut = Line("list-models --name-contains {p} --sort-by Name --sort-order Ascending --max-items 12 --page-size 5")
    first_aws = json.loads(clis.run("aws", cut, "-").stdout)
    first_ours = json.loads(clis.run("inferpipe", cut, "-").stdout)
    assert first_ours == first_aws
    assert len(first_aws["Models"]) == 12
    token = first_aws["NextToken"]
    decoded = json.loads(base64.b64decode(token))
    assert decoded["NextToken"] and decoded["boto_truncate_amount"] == 2  # 12 = 5 + 5 + 2 of the third page
    resume = Line(
        f"list-models --name-contains {{p}} --sort-by Name --sort-order Ascending --page-size 5"
        f" --starting-token {token}"
    )
    rest_aws = json.loads(clis.run("aws", resume, "-").stdout)
    rest_ours = json.loads(clis.run("inferpipe", resume, "-").stdout)
    assert rest_ours == rest_aws
    names = [m["ModelName"] for m in first_aws["Models"] + rest_aws["Models"]]
    assert names == sorted(f"{clis.prefix}-{i:02d}" for i in range(MODELS))


@pytest.mark.parametrize(
    "command,operation", [("create-model", "CreateModel"), ("describe-endpoint", "DescribeEndpoint")]
)
def test_output_skeleton_is_botocores_sample_response(clis: Clis, command: str, operation: str) -> None:
    """`--generate-cli-skeleton output` fails in the AWS CLI v1, so the oracle is what the AWS CLI v2
    prints: botocore's sample response (compared by keys: enum values are picked at random).
    Nothing is called: the line works with no such resource."""
    expected = _botocore_skeleton(operation, "output")
    line = Line(
        f"{command} --{'model' if operation == 'CreateModel' else 'endpoint'}-name {{p}}-none"
        " --generate-cli-skeleton output"
    )
    if operation == "CreateModel":
        line = Line(line.args.replace("--generate", "--primary-container Image=x:1 --generate"))
    ours = clis.run("inferpipe", line, "-")
    assert ours.returncode == 0, ours.stderr
    # as printed: timestamps are strings in JSON
    assert keys(json.loads(ours.stdout)) == keys(json.loads(json.dumps(expected, default=str)))
    assert clis.daemon.client().list_models(NameContains=f"{clis.prefix}-none")["Models"] == []
