"""The `aws sagemaker` flags as the AWS CLI parses them: names from botocore's model, the shorthand
grammar (checked against awscli's own parser on the same inputs), values typed by the model,
--cli-input-json under the flags, client-side required members."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from awscli.shorthand import ShorthandParser
from botocore import xform_name
from botocore.loaders import Loader

from inferpipe.cli import aws_args, global_options, service_model, shorthand
from inferpipe.core.api.supported import SUPPORTED_OPERATIONS

SHORTHANDS = [
    "Key=team,Value=ml",
    "a=b",
    "a=b,c",
    "a=b,c,d=e",
    "foo=a,b,c=d,e=f",
    "Image=x:1,ModelDataUrl=s3://bucket/key.tar.gz,Environment={A=1,B=two}",
    "DataSource={S3DataSource={S3DataType=S3Prefix,S3Uri=data/}},ContentType=text/csv,SplitType=Line",
    "List=[a,b,c],Other=x",
    "Nested=[{A=1},{A=2}]",
    "q='a,b',r=\"c d\"",
    "esc=a\\,b",
    "spaced = value  ,  other = x ",
    "=x",
    "a @= b",
    "Value=données",
    "empty=",
    "k=v=w",
    "Path=/tmp/a b/c",
]
BAD = ["a", "a=b,a=c", "  leading=space", "a={b=c", "a=[b,c"]


@pytest.mark.parametrize("text", SHORTHANDS)
def test_shorthand_parses_as_awscli_does(text: str) -> None:
    assert shorthand.parse(text) == ShorthandParser().parse(text)


@pytest.mark.parametrize("text", BAD)
def test_shorthand_refuses_what_awscli_refuses(text: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - awscli's own error classes
        ShorthandParser().parse(text)
    with pytest.raises(ValueError):
        shorthand.parse(text)


def test_the_offered_operations_are_the_daemons() -> None:
    assert service_model.OPERATIONS["sagemaker"] == SUPPORTED_OPERATIONS


def test_every_flag_is_spelled_as_botocore_spells_it() -> None:
    names: set[str] = set()
    for service in service_model.OPERATIONS:
        model = Loader().load_service_model(service, "service-2")
        for op in service_model.OPERATIONS[service]:
            names.add(op)
            names.update(model["shapes"][model["operations"][op]["input"]["shape"]].get("members", {}))
    assert {n: service_model.cli_name(n) for n in names} == {n: xform_name(n, "-") for n in names}


def test_the_extract_holds_every_input_member() -> None:
    model = Loader().load_service_model("sagemaker", "service-2")
    for op in SUPPORTED_OPERATIONS:
        members = model["shapes"][model["operations"][op]["input"]["shape"]]["members"]
        assert set(service_model.input_shape(op)["members"]) == set(members)


def test_structures_lists_and_booleans_from_the_line() -> None:
    parsed = aws_args.split(
        "CreateModel",
        [
            "--model-name", "m",
            "--primary-container", "Image=x:1,Environment={N=1}",
            "--tags", "Key=a,Value=1", "Key=b,Value=2",
            "--vpc-config", "SecurityGroupIds=sg-1,sg-2,Subnets=s-1",
            "--no-enable-network-isolation",
            "--container", "image=y:1",
        ],
    )  # fmt: skip
    assert parsed.request == {
        "ModelName": "m",
        "PrimaryContainer": {"Image": "x:1", "Environment": {"N": "1"}},
        "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}],
        "VpcConfig": {"SecurityGroupIds": ["sg-1", "sg-2"], "Subnets": ["s-1"]},
        "EnableNetworkIsolation": False,
    }
    assert parsed.rest == ["--container", "image=y:1"]  # an inferpipe extra, for Typer


def test_values_take_the_members_types() -> None:
    req = aws_args.split(
        "CreateEndpointConfig",
        [
            "--endpoint-config-name", "c",
            "--production-variants",
            "VariantName=A,ModelName=m,InitialInstanceCount=2,InitialVariantWeight=0.5,InstanceType=ml.m5.large",
        ],
    ).request  # fmt: skip
    assert req["ProductionVariants"] == [
        {
            "VariantName": "A",
            "ModelName": "m",
            "InitialInstanceCount": 2,
            "InitialVariantWeight": 0.5,
            "InstanceType": "ml.m5.large",
        }
    ]
    listed = aws_args.split("ListModels", ["--max-results", "5", "--creation-time-after", "2024-01-01T00:00:00Z"])
    assert listed.request == {"MaxResults": 5, "CreationTimeAfter": 1704067200.0}
    assert aws_args.split("DeleteTags", ["--resource-arn", "a", "--tag-keys", "x", "y"]).request["TagKeys"] == [
        "x",
        "y",
    ]
    assert aws_args.split("DeleteTags", ["--resource-arn", "a", "--tag-keys", '["x","y"]']).request["TagKeys"] == [
        "x",
        "y",
    ]


def test_json_and_files(tmp_path: Path) -> None:
    f = tmp_path / "pc.json"
    f.write_text('{"Image": "x:1"}')
    assert aws_args.split("CreateModel", ["--primary-container", f"file://{f}"]).request == {
        "PrimaryContainer": {"Image": "x:1"}
    }
    doc = tmp_path / "in.json"
    doc.write_text(json.dumps({"ModelName": "from-file", "PrimaryContainer": {"Image": "x:1"}}))
    parsed = aws_args.split("CreateModel", ["--cli-input-json", f"file://{doc}", "--model-name", "from-line"])
    assert parsed.request == {"ModelName": "from-line", "PrimaryContainer": {"Image": "x:1"}}
    yml = tmp_path / "in.yaml"
    yml.write_text("ModelName: y\nPrimaryContainer:\n  Image: x:1\n")
    assert aws_args.split("CreateModel", ["--cli-input-yaml", f"file://{yml}"]).request["ModelName"] == "y"


@pytest.mark.parametrize(
    "argv",
    [
        ["--primary-container", "Image"],
        ["--primary-container", '{"Image": '],
        ["--tags"],
        ["--model-name"],
        ["--enable-network-isolation=yes"],
        ["--generate-cli-skeleton=xml"],
        ["--primary-container", "file:///no/such/file"],
        ["--cli-input-json", "[1]"],
    ],
)
def test_bad_lines_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(aws_args.ArgumentError):
        aws_args.split("CreateModel", argv)


def test_required_members_are_checked_on_the_client() -> None:
    assert aws_args.missing_required("CreateEndpoint", {"EndpointName": "e"}) == ["--endpoint-config-name"]
    with pytest.raises(aws_args.ArgumentError, match="the following arguments are required: --model-name"):
        aws_args.check_required("DescribeModel", {})
    with pytest.raises(aws_args.ArgumentError, match='Missing required parameter in Tags\\[0\\]: "Value"'):
        aws_args.validate("AddTags", {"ResourceArn": "a", "Tags": [{"Key": "k"}]})


def test_skeletons_are_botocores() -> None:
    skeleton = aws_args.skeleton("DescribeModel", "input")
    assert skeleton == {"ModelName": ""}
    out = aws_args.skeleton("DescribeModel", "output")
    assert out["ModelName"] == "ModelName" and "PrimaryContainer" in out
    assert aws_args.split("DescribeModel", ["--generate-cli-skeleton"]).skeleton == "input"
    assert aws_args.split("DescribeModel", ["--generate-cli-skeleton", "yaml-input"]).skeleton == "yaml-input"


def test_global_options_anywhere() -> None:
    opts = global_options.GlobalOptions()
    rest = global_options.extract(
        [
            "list-models",
            "--region",
            "eu-west-1",
            "--debug",
            "--cli-read-timeout",
            "0",
            "--color",
            "off",
            "--no-cli-pager",
        ],
        opts,
    )
    assert rest == ["list-models"]
    assert (opts.region, opts.debug, opts.read_timeout, opts.color) == ("eu-west-1", True, None, "off")
    assert "read" in opts.timeouts_given
    with pytest.raises(global_options.GlobalOptionError):
        global_options.extract(["--color", "purple"], global_options.GlobalOptions())
    own = global_options.extract(["daemon", "env", "--profile", "x"], global_options.GlobalOptions())
    assert own == ["daemon", "env", "--profile", "x"]  # that command's own --profile
