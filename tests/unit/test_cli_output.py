"""The CLI's output formats, paging and option hoisting, where the AWS CLI conformance test
(tests/integration/test_aws_cli_conformance.py) cannot reach: YAML (the AWS CLI v1 has none), a
service that repeats its token, and a command owning an option named like a global one."""

from __future__ import annotations

import io
from typing import Any

import pytest
import yaml

from inferpipe.cli import formats
from inferpipe.cli.main import hoist_global_options
from inferpipe.cli.pagination import Pages, PaginationError, Paging, call, config_for

LIST_MODELS = config_for("ListModels")


def service(items: list[str], page: int = 2) -> Any:
    """A ListModels that serves ``items`` ``page`` at a time, recording the requests it got."""
    seen: list[dict[str, Any]] = []

    def list_models(req: dict[str, Any]) -> dict[str, Any]:
        seen.append(req)
        start = int(req.get("NextToken", 0))
        size = req.get("MaxResults", page)
        body: dict[str, Any] = {"Models": [{"ModelName": n} for n in items[start : start + size]]}
        if start + size < len(items):
            body["NextToken"] = str(start + size)
        return body

    list_models.seen = seen  # type: ignore[attr-defined]
    return list_models


def test_the_paginator_model_is_botocores() -> None:
    assert LIST_MODELS is not None
    assert LIST_MODELS["result_key"] == "Models" and LIST_MODELS["limit_key"] == "MaxResults"
    assert config_for("DescribeModel") is None


def test_all_pages_are_fetched_and_merged() -> None:
    fetch = service(["a", "b", "c", "d", "e"])
    result = call(fetch, "ListModels", {}, Paging())
    assert isinstance(result, Pages)
    assert result.full_result() == {"Models": [{"ModelName": n} for n in "abcde"]}
    assert len(fetch.seen) == 3


def test_max_items_cuts_mid_page_and_the_token_resumes_there() -> None:
    items = list("abcdefg")
    first = call(service(items), "ListModels", {}, Paging(max_items=3))
    assert isinstance(first, Pages)
    merged = first.full_result()
    assert [m["ModelName"] for m in merged["Models"]] == ["a", "b", "c"]
    rest = call(service(items), "ListModels", {}, Paging(starting_token=merged["NextToken"]))
    assert isinstance(rest, Pages)
    assert [m["ModelName"] for m in rest.full_result()["Models"]] == ["d", "e", "f", "g"]


def test_the_operations_own_token_turns_pagination_off_and_no_paginate_refuses_paging_options() -> None:
    assert call(service(list("abc")), "ListModels", {"MaxResults": 1}, Paging()) == {
        "Models": [{"ModelName": "a"}],
        "NextToken": "1",
    }
    with pytest.raises(PaginationError, match="Cannot specify --no-paginate along with pagination arguments"):
        call(service(list("abc")), "ListModels", {}, Paging(max_items=1, paginate=False))
    with pytest.raises(PaginationError, match="not paginated"):
        call(service(list("abc")), "DescribeModel", {}, Paging(page_size=1))


def test_a_token_seen_twice_stops_the_loop() -> None:
    def stuck(req: dict[str, Any]) -> dict[str, Any]:
        return {"Models": [{"ModelName": "a"}], "NextToken": "same"}

    with pytest.raises(PaginationError, match="same next token"):
        call(stuck, "ListModels", {}, Paging())


def test_a_bad_starting_token_is_refused() -> None:
    with pytest.raises(PaginationError, match="Bad starting token"):
        call(service(list("ab")), "ListModels", {}, Paging(starting_token="a___b___c"))


def test_yaml_is_the_data_and_yaml_stream_a_list_item_per_page() -> None:
    pages = call(service(list("abc")), "ListModels", {}, Paging())
    out = io.StringIO()
    formats.write("yaml", "ListModels", pages, None, out)
    assert yaml.safe_load(out.getvalue()) == {"Models": [{"ModelName": n} for n in "abc"]}
    out = io.StringIO()
    formats.write("yaml-stream", "ListModels", pages, lambda page: [m["ModelName"] for m in page["Models"]], out)
    assert yaml.safe_load(out.getvalue()) == [["a", "b"], ["c"]]


@pytest.mark.parametrize(
    ("argv", "hoisted"),
    [
        (
            ["transform", "--model-name", "m", "--output", "table", "--query", "x"],
            ["--query", "x", "transform", "--model-name", "m", "--output", "table"],
        ),
        (
            ["transform", "--output", "out/", "--model-name", "m", "--output", "json"],
            ["--output", "json", "transform", "--output", "out/", "--model-name", "m"],
        ),
        (
            ["list-models", "--max-items", "3", "--no-paginate", "--output=text"],
            ["--max-items", "3", "--no-paginate", "--output=text", "list-models"],
        ),
        (
            ["wait", "endpoint-in-service", "--endpoint-name", "e", "--output", "json"],
            ["--output", "json", "wait", "endpoint-in-service", "--endpoint-name", "e"],
        ),
    ],
)
def test_global_options_are_hoisted_unless_the_command_owns_the_name(argv: list[str], hoisted: list[str]) -> None:
    assert hoist_global_options(argv) == hoisted


def test_help_piped_is_not_cut() -> None:
    """`inferpipe COMMAND --help | less`: every flag's help and every example line whole."""
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "inferpipe"
    out = subprocess.run(
        [str(exe), "create-endpoint-config", "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "Shorthand name=V,model=M,instances=N,weight=W,instance-type=T (repeatable)." in out
    example = (
        "--production-variants VariantName=AllTraffic,ModelName=churn,InitialInstanceCount=2,InstanceType=ml.m5.large"
    )
    assert example in out
    assert "…" not in out
    assert all(line == line.rstrip() for line in out.splitlines())
