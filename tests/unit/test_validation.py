"""The Checker's message forms, and the model and endpoint-config rules at their boundaries."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from inferpipe.core.api.endpoint_config import validate_create_endpoint_config
from inferpipe.core.api.model import validate_create_model
from inferpipe.core.api.shapes import check_member, check_request, enum_of
from inferpipe.core.api.validation import (
    Checker,
    prune_nulls,
    render,
    tag_text_ok,
)
from inferpipe.core.errors import ValidationException


def message_of(c: Checker) -> str:
    with pytest.raises(ValidationException) as err:
        c.raise_if_any()
    assert err.value.code == "ValidationException" and err.value.status == 400
    return err.value.message


# Checker -----------------------------------------------------------------------------------------
def test_no_violation_raises_nothing() -> None:
    c = Checker()
    c.string("ok", "x", max_len=5, pattern="[a-z]+", enum=["ok"])
    c.integer(3, "n", minimum=1, maximum=3)
    c.raise_if_any()


def test_one_violation_uses_the_singular_form() -> None:
    c = Checker()
    c.string("toolong", "modelName", max_len=3)
    assert message_of(c) == (
        "1 validation error detected: Value 'toolong' at 'modelName' failed to satisfy constraint:"
        " Member must have length less than or equal to 3"
    )


def test_several_violations_are_counted_and_joined_in_order() -> None:
    c = Checker()
    c.string("bad name", "modelName", max_len=3, pattern="[a-z]+")
    c.required({}, "Image", "primaryContainer.image")
    assert message_of(c) == (
        "3 validation errors detected: "
        "Value 'bad name' at 'modelName' failed to satisfy constraint: Member must have length less than or equal"
        " to 3; "
        "Value 'bad name' at 'modelName' failed to satisfy constraint: Member must satisfy regular expression"
        " pattern: [a-z]+; "
        "Value null at 'primaryContainer.image' failed to satisfy constraint: Member must not be null"
    )


def test_rules_come_verbatim_and_only_once_constraints_hold() -> None:
    c = Checker()
    c.rule("More than one container in MultiModel mode is not supported with inference pipeline.")
    assert message_of(c) == "More than one container in MultiModel mode is not supported with inference pipeline."
    c = Checker()
    c.rule("A rule.")
    c.string("x" * 5, "name", max_len=4)
    assert message_of(c).startswith("1 validation error detected: Value 'xxxxx' at 'name'")
    assert "A rule." not in message_of(c)


def test_problem_is_counted_with_member_constraints() -> None:
    c = Checker()
    c.problem("Something about two members.")
    assert message_of(c) == "1 validation error detected: Something about two members."


def test_patterns_apply_to_the_whole_value() -> None:
    c = Checker()
    assert c.string("abc", "p", pattern="[a-z]+")
    assert not c.string("abc!", "p", pattern="[a-z]+")
    assert not c.string("!abc", "p", pattern="^[a-z]+")
    check_member("EndpointName", "a-b--c", "n", c)  # hyphens in the middle, repeated: fine
    assert len(c.errors) == 2
    for bad in ("-a", "a-", "a_b", "a.b", "a b", "é"):
        c = Checker()
        check_member("EndpointName", bad, "n", c)
        assert c.errors == [
            f"Value '{bad}' at 'n' failed to satisfy constraint: Member must satisfy regular expression pattern:"
            " ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
        ]


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda c: c.string(5, "s"), "Value '5' at 's' failed to satisfy constraint: Member must be a string"),
        (
            lambda c: c.string("", "s", min_len=1),
            "Value '' at 's' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ),
        (
            lambda c: c.string("Up", "sortOrder", enum=["Ascending", "Descending"]),
            "Value 'Up' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set:"
            " [Ascending, Descending]",
        ),
        (lambda c: c.integer(True, "n"), "Value 'true' at 'n' failed to satisfy constraint: Member must be an integer"),
        (lambda c: c.integer(1.5, "n"), "Value '1.5' at 'n' failed to satisfy constraint: Member must be an integer"),
        (
            lambda c: c.integer(0, "n", minimum=1),
            "Value '0' at 'n' failed to satisfy constraint: Member must have value greater than or equal to 1",
        ),
        (
            lambda c: c.number(100.5, "w", maximum=100),
            "Value '100.5' at 'w' failed to satisfy constraint: Member must have value less than or equal to 100",
        ),
        (lambda c: c.number("1", "w"), "Value '1' at 'w' failed to satisfy constraint: Member must be a number"),
        (lambda c: c.boolean("yes", "b"), "Value 'yes' at 'b' failed to satisfy constraint: Member must be a boolean"),
        (
            lambda c: c.sequence({"a": 1}, "l"),
            "Value '{a=1}' at 'l' failed to satisfy constraint: Member must be a list",
        ),
        (
            lambda c: c.sequence([1, 2, 3], "l", max_len=2),
            "Value '[1, 2, 3]' at 'l' failed to satisfy constraint: Member must have length less than or equal to 2",
        ),
        (
            lambda c: c.structure([1], "s"),
            "Value '[1]' at 's' failed to satisfy constraint: Member must be a structure",
        ),
    ],
    ids=[
        "not-a-string",
        "too-short",
        "enum",
        "bool-is-no-int",
        "float-is-no-int",
        "int-minimum",
        "number-maximum",
        "string-is-no-number",
        "not-a-boolean",
        "not-a-list",
        "list-too-long",
        "not-a-structure",
    ],
)
def test_member_constraint_texts(call: Any, expected: str) -> None:
    c = Checker()
    call(c)
    assert c.errors == [expected]


def test_none_passes_every_type_check_required_catches_it() -> None:
    c = Checker()
    for check in (c.string, c.integer, c.number, c.boolean, c.sequence, c.structure):
        assert check(None, "x")
    assert c.errors == []
    assert not c.required({"x": None}, "x", "x")


def test_render_is_javas_to_string() -> None:
    assert render("plain") == "plain"
    assert render("x" * 1000) == "x" * 1000  # strings are never cut
    assert render({"A": "1", "B": None}) == "{A=1, B=null}"
    assert render([{"Image": "x"}, True, 3]) == "[{Image=x}, true, 3]"
    long = render([{"Image": "x" * 50}] * 20)
    assert len(long) == 256 and long.endswith("...")


def test_tag_text_is_letters_separators_numbers_and_some_punctuation() -> None:
    for good in ("", "team", "Équipe 2", "cost-center_1.a:b/c=d+e@f", "東京", "a\u00a0b", "٣"):
        assert tag_text_ok(good), good
    for bad in ("a!b", "a\tb", "a\nb", "a#b", "a,b", "a*b", "a$b"):
        assert not tag_text_ok(bad), bad


def test_tags_limits() -> None:
    c = Checker()
    check_member("TagList", [{"Key": f"k{i}", "Value": "v"} for i in range(50)], "tags", c)
    assert c.errors == []
    check_member("TagList", [{"Key": f"k{i}"} for i in range(51)], "tags", c)
    assert len(c.errors) == 1 and c.errors[0].endswith("Member must have length less than or equal to 50")
    c = Checker()
    check_member("TagList", [{"Value": "v"}, {"Key": "k" * 128, "Value": "v" * 257}, "not-a-tag"], "tags", c)
    assert c.errors == [
        "Value null at 'tags.1.member.key' failed to satisfy constraint: Member must not be null",
        f"Value '{'v' * 257}' at 'tags.2.member.value' failed to satisfy constraint: Member must have length less"
        " than or equal to 256",
        "Value 'not-a-tag' at 'tags.3.member' failed to satisfy constraint: Member must be a structure",
    ]


def test_list_request_checks() -> None:
    # in the order of the model's members, as the service reports them
    c = Checker()
    check_request(
        "ListModels",
        {"NameContains": "a_b", "MaxResults": 0, "SortBy": "Size", "NextToken": "t" * 8193, "CreationTimeAfter": {}},
        c,
    )
    assert [e.split(" failed")[0] for e in c.errors] == [
        "Value 'Size' at 'sortBy'",
        f"Value '{'t' * 8193}' at 'nextToken'",
        "Value '0' at 'maxResults'",
        "Value 'a_b' at 'nameContains'",
        "Value '{}' at 'creationTimeAfter'",
    ]
    c = Checker()
    check_request("ListEndpoints", {"StatusEquals": "Sleeping"}, c)
    assert c.errors == [
        "Value 'Sleeping' at 'statusEquals' failed to satisfy constraint: Member must satisfy enum value set:"
        f" [{', '.join(enum_of('EndpointStatus'))}]"
    ]


def test_prune_nulls() -> None:
    assert prune_nulls({"a": None, "b": {"c": None, "d": [1, {"e": None}]}, "f": 0, "g": False}) == {
        "b": {"d": [1, {}]},
        "f": 0,
        "g": False,
    }


# CreateModel -------------------------------------------------------------------------------------
def pipeline(n: int = 2, **container: Any) -> dict[str, Any]:
    return {"ModelName": "m", "Containers": [{"Image": f"img{i}:1", **container} for i in range(n)]}


def refused(req: dict[str, Any], validate: Any = validate_create_model) -> str:
    before = copy.deepcopy(req)
    with pytest.raises(ValidationException) as err:
        validate(req)
    assert req == before  # validation never rewrites the request
    return err.value.message


@pytest.mark.parametrize(
    "req",
    [
        {"ModelName": "m", "PrimaryContainer": {"Image": "x"}},
        pipeline(1),
        pipeline(15),
        {**pipeline(2), "InferenceExecutionConfig": {"Mode": "Serial"}},
        {
            "ModelName": "a" * 63,
            "Containers": [
                {"Image": "a", "ContainerHostname": "h" * 63, "ModelDataUrl": "file:///opt/m.tar.gz"},
                {"Image": "b", "ContainerHostname": "b", "ModelDataUrl": "file://localhost/opt/m"},
                {"Image": "c", "ContainerHostname": "c", "ModelDataUrl": "https://host/m.tar.gz"},
                {"Image": "d", "ContainerHostname": "d", "ModelDataUrl": "/abs/dir"},
            ],
            "InferenceExecutionConfig": {"Mode": "Direct"},
        },
        {"ModelName": "m", "PrimaryContainer": {"Image": "x", "Mode": "MultiModel"}},  # alone it is fine
        {"ModelName": "m", "PrimaryContainer": {"Image": "x", "Environment": {f"K{i}": "v" for i in range(100)}}},
        {
            "ModelName": "m",
            "PrimaryContainer": {
                "Image": "x",
                "ImageConfig": {
                    "RepositoryAccessMode": "Vpc",
                    "RepositoryAuthConfig": {"RepositoryCredentialsProviderArn": "a"},
                },
                "MultiModelConfig": {"ModelCacheSetting": "Disabled"},
            },
            "ExecutionRoleArn": "arn:aws-cn:iam::123456789012:role/path/Role_1",
            "VpcConfig": {"SecurityGroupIds": ["sg-1"] * 5, "Subnets": ["subnet-1"] * 16},
            "Tags": [{"Key": "k", "Value": ""}],
        },
    ],
    ids=["primary", "one-container", "15-containers", "serial", "direct-limits", "single-mme", "100-env", "extras"],
)
def test_valid_models_pass(req: dict[str, Any]) -> None:
    validate_create_model(req)


def test_env_total_boundary_is_32_kib_across_containers() -> None:
    # 32 entries of (4-byte key + 508-byte value) = 16384 bytes per container, two containers = 32768
    env = {f"K{i:03d}": "v" * 508 for i in range(32)}
    validate_create_model(pipeline(2, Environment=env))
    env["K000"] += "v"
    assert refused(pipeline(2, Environment=env)) == (
        "The combined length of all Environment keys and values is 32770 bytes, more than the 32 KB limit."
    )


def test_env_map_violations_are_one_per_map_listing_each_constraint() -> None:
    env = {"1BAD": "x", "ALSO-BAD": "y", "K" * 1025: "z", "GOOD": "v" * 1025}
    message = refused({"ModelName": "m", "PrimaryContainer": {"Image": "x", "Environment": env}})
    assert message.startswith("2 validation errors detected: Value '{1BAD=x, ALSO-BAD=y, KKK")
    parts = message.split("; ")
    assert parts[0].endswith(
        "' at 'primaryContainer.environment' failed to satisfy constraint: Map keys must satisfy constraint:"
        " [Member must satisfy regular expression pattern: [a-zA-Z_][a-zA-Z0-9_]*,"
        " Member must have length less than or equal to 1024]"
    )
    assert parts[1].endswith(
        "' at 'primaryContainer.environment' failed to satisfy constraint: Map value must satisfy constraint:"
        " [Member must have length less than or equal to 1024]"
    )


def test_rules_wait_for_member_constraints() -> None:
    # both a bad name and a cross-container rule: the front end's constraint error wins
    req = {"ModelName": "bad name", "Containers": [{"Image": "a", "Mode": "MultiModel"}, {"Image": "b"}]}
    assert refused(req).startswith("1 validation error detected: Value 'bad name' at 'modelName'")
    req["ModelName"] = "ok"
    assert refused(req) == "More than one container in MultiModel mode is not supported with inference pipeline."


@pytest.mark.parametrize(
    ("req", "expected"),
    [
        (
            {"ModelName": "m", "PrimaryContainer": {"Image": "x", "ImageConfig": {"RepositoryAccessMode": "Public"}}},
            "1 validation error detected: Value 'Public' at 'primaryContainer.imageConfig.repositoryAccessMode' failed"
            " to satisfy constraint: Member must satisfy enum value set: [Platform, Vpc]",
        ),
        (
            {"ModelName": "m", "PrimaryContainer": {"Image": "x", "MultiModelConfig": {"ModelCacheSetting": "On"}}},
            "1 validation error detected: Value 'On' at 'primaryContainer.multiModelConfig.modelCacheSetting' failed"
            " to satisfy constraint: Member must satisfy enum value set: [Enabled, Disabled]",
        ),
        (
            {"ModelName": "m", "PrimaryContainer": {"Image": "x"}, "VpcConfig": {"SecurityGroupIds": ["sg_1"]}},
            "2 validation errors detected: Value 'sg_1' at 'vpcConfig.securityGroupIds.1.member' failed to satisfy"
            " constraint: Member must satisfy regular expression pattern: [-0-9a-zA-Z]+; Value null at"
            " 'vpcConfig.subnets' failed to satisfy constraint: Member must not be null",
        ),
        (
            {"ModelName": "m", "PrimaryContainer": {"Image": "x"}, "EnableNetworkIsolation": "yes"},
            "1 validation error detected: Value 'yes' at 'enableNetworkIsolation' failed to satisfy constraint:"
            " Member must be a boolean",
        ),
        (
            {"ModelName": "m", "PrimaryContainer": {"Image": "x", "ModelDataUrl": "ftp://host/m.tar.gz"}},
            "1 validation error detected: Value 'ftp://host/m.tar.gz' at 'primaryContainer.modelDataUrl' failed to"
            " satisfy constraint: Member must be an s3://, https:// or file:// URL, or an absolute local path"
            " (a .tar.gz or a directory)",
        ),
        (
            {"ModelName": "m", "PrimaryContainer": "x"},
            "1 validation error detected: Value 'x' at 'primaryContainer' failed to satisfy constraint: Member must be"
            " a structure",
        ),
        (
            {"PrimaryContainer": {"Image": "x"}},
            "1 validation error detected: Value null at 'modelName' failed to satisfy constraint: Member must not be"
            " null",
        ),
    ],
    ids=["image-config", "multi-model-config", "vpc", "isolation", "ftp", "not-a-struct", "no-name"],
)
def test_more_model_rules(req: dict[str, Any], expected: str) -> None:
    assert refused(req) == expected


# CreateEndpointConfig ----------------------------------------------------------------------------
def config(*variants: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"EndpointConfigName": "cfg", "ProductionVariants": list(variants), **extra}


def v(name: str = "AllTraffic", **kw: Any) -> dict[str, Any]:
    return {"VariantName": name, "ModelName": "m", "InitialInstanceCount": 1, **kw}


def test_valid_endpoint_configs_pass() -> None:
    validate_create_endpoint_config(config(*(v(f"v{i}") for i in range(10))))
    validate_create_endpoint_config(
        config(
            v(
                InitialVariantWeight=0,
                VolumeSizeInGB=512,
                ContainerStartupHealthCheckTimeoutInSeconds=3600,
                ModelDataDownloadTimeoutInSeconds=60,
                InstanceType="ml.g5.12xlarge",
            ),
            DataCaptureConfig={
                "InitialSamplingPercentage": 0,
                "DestinationS3Uri": "file:///tmp/capture",
                "CaptureOptions": [{"CaptureMode": "InputAndOutput"}],
            },
            AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": "s3://b/out"}},
            VpcConfig={"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]},
            EnableNetworkIsolation=False,
            KmsKeyId="alias/key",
        )
    )


@pytest.mark.parametrize(
    ("req", "expected"),
    [
        (
            config(v(ServerlessConfig={"MemorySizeInMB": 2048, "MaxConcurrency": 1})),
            "ServerlessConfig at 'productionVariants.1.member' is not supported by inferpipe: give"
            " InitialInstanceCount instead.",
        ),
        (
            config({"VariantName": "a", "InitialInstanceCount": 1}),
            "ModelName must be specified for production variant at 'productionVariants.1.member'.",
        ),
        (
            config(v(InstanceType="m5.large")),
            # the service model's enum, not a pattern: ml.foo.bar is not an instance type
            "1 validation error detected: Value 'm5.large' at 'productionVariants.1.member.instanceType' failed to"
            " satisfy constraint: Member must satisfy enum value set:"
            f" [{', '.join(enum_of('ProductionVariantInstanceType'))}]",
        ),
        (
            config(
                v(),
                DataCaptureConfig={
                    "InitialSamplingPercentage": 5,
                    "DestinationS3Uri": "/local/dir",
                    "CaptureOptions": [{"CaptureMode": "Both"}],
                },
            ),
            # a local directory stands in for S3 (see docs/data-capture.md)
            "1 validation error detected: Value 'Both' at 'dataCaptureConfig.captureOptions.1.member.captureMode'"
            " failed to satisfy constraint: Member must satisfy enum value set: [Input, Output, InputAndOutput]",
        ),
        (
            config(
                v(),
                DataCaptureConfig={
                    "InitialSamplingPercentage": 5,
                    "DestinationS3Uri": "s3://bucket/capture",
                    "CaptureOptions": [{"CaptureMode": "Input"}],
                },
            ),
            "DataCaptureConfig.DestinationS3Uri 's3://bucket/capture' cannot be written: inferpipe writes captured"
            " data to a local directory. Give an absolute path (/data/capture) or a file:// URL"
            " (file:///data/capture).",
        ),
        (
            config(
                v(),
                DataCaptureConfig={
                    "InitialSamplingPercentage": 5,
                    "DestinationS3Uri": "/etc/capture",
                    "CaptureOptions": [{"CaptureMode": "Input"}],
                },
            ),
            "DataCaptureConfig.DestinationS3Uri /etc/capture is inside /etc, which inferpipe never reads or writes"
            " (system files, Docker's state, credentials or inferpipe's own home). Copy the data to a directory of"
            " your own.",
        ),
        (
            config(v(), AsyncInferenceConfig={}),
            "1 validation error detected: Value null at 'asyncInferenceConfig.outputConfig' failed to satisfy"
            " constraint: Member must not be null",
        ),
        (
            config(v("a"), v("b"), v("a"), v("b")),
            "VariantName must be unique within an endpoint configuration: a, b repeated.",
        ),
    ],
    ids=[
        "serverless",
        "no-model",
        "instance-type",
        "data-capture",
        "capture-s3",
        "capture-etc",
        "async-without-output",
        "two-duplicates",
    ],
)
def test_more_endpoint_config_rules(req: dict[str, Any], expected: str) -> None:
    assert refused(req, validate_create_endpoint_config) == expected
