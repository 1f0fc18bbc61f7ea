"""ListX semantics: name and time filters, sorting, MaxResults and the opaque NextToken."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from inferpipe.core.api.listing import decode_token, encode_token, page, parse_time
from inferpipe.core.errors import ValidationException
from inferpipe.core.store import Record

T0 = 1_700_000_000.0


def rec(name: str, created: float, status: str | None = None, modified: float | None = None) -> Record:
    return Record("model", name, f"arn/{name.lower()}", status, None, created, modified or created, {})


def summary(r: Record) -> dict[str, Any]:
    return {"Name": r.name, "Created": r.created}


RECORDS = [
    rec("alpha", T0 + 1, "InService", modified=T0 + 50),
    rec("Bravo", T0 + 2, "Creating", modified=T0 + 20),
    rec("charlie", T0 + 3, "InService", modified=T0 + 30),
    rec("delta-churn", T0 + 4, "Failed", modified=T0 + 40),
    rec("echo-CHURN", T0 + 5, "InService", modified=T0 + 10),
]


def names(req: dict[str, Any], records: list[Record] = RECORDS, **kw: Any) -> list[str]:
    items, _ = page(list(records), req, summary, **kw)
    return [i["Name"] for i in items]


def test_default_order_is_newest_first() -> None:
    assert names({}) == ["echo-CHURN", "delta-churn", "charlie", "Bravo", "alpha"]


def test_name_contains_ignores_case() -> None:
    assert names({"NameContains": "churn"}) == ["echo-CHURN", "delta-churn"]
    assert names({"NameContains": "BRAVO"}) == ["Bravo"]
    assert names({"NameContains": "zulu"}) == []


def test_sort_by_name_and_order() -> None:
    assert names({"SortBy": "Name", "SortOrder": "Ascending"}) == [
        "Bravo",
        "alpha",
        "charlie",
        "delta-churn",
        "echo-CHURN",
    ]
    assert names({"SortBy": "Name", "SortOrder": "Descending"}) == [
        "echo-CHURN",
        "delta-churn",
        "charlie",
        "alpha",
        "Bravo",
    ]
    assert names({"SortBy": "CreationTime", "SortOrder": "Ascending"}) == [r.name for r in RECORDS]
    assert names({"SortBy": "Status", "SortOrder": "Ascending"}) == [
        "Bravo",
        "delta-churn",
        "alpha",
        "charlie",
        "echo-CHURN",
    ]


def test_equal_times_are_ordered_by_name() -> None:
    same = [rec("b", T0), rec("c", T0), rec("a", T0)]
    assert names({"SortOrder": "Ascending"}, same) == ["a", "b", "c"]
    assert names({}, same) == ["c", "b", "a"]


def test_custom_sort_keys() -> None:
    assert names({"SortBy": "Length", "SortOrder": "Ascending"}, sort_keys={"Length": lambda r: len(r.name)}) == [
        "Bravo",
        "alpha",
        "charlie",
        "echo-CHURN",
        "delta-churn",
    ]


def test_creation_time_after_is_inclusive_and_before_is_exclusive() -> None:
    assert names({"CreationTimeAfter": T0 + 3, "SortOrder": "Ascending"}) == ["charlie", "delta-churn", "echo-CHURN"]
    assert names({"CreationTimeBefore": T0 + 3, "SortOrder": "Ascending"}) == ["alpha", "Bravo"]
    assert names({"CreationTimeAfter": T0 + 2, "CreationTimeBefore": T0 + 4, "SortOrder": "Ascending"}) == [
        "Bravo",
        "charlie",
    ]
    assert names({"CreationTimeAfter": T0 + 4, "CreationTimeBefore": T0 + 2}) == []


def test_last_modified_and_status_filters() -> None:
    assert names({"LastModifiedTimeAfter": T0 + 30, "SortOrder": "Ascending"}) == ["alpha", "charlie", "delta-churn"]
    assert names({"LastModifiedTimeBefore": T0 + 30, "SortOrder": "Ascending"}) == ["Bravo", "echo-CHURN"]
    assert names({"StatusEquals": "InService", "SortOrder": "Ascending"}) == ["alpha", "charlie", "echo-CHURN"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (T0, T0),
        (1_700_000_000, T0),
        ("1700000000.5", T0 + 0.5),
        ("2023-11-14T22:13:20Z", T0),
        ("2023-11-14T22:13:20+00:00", T0),
        ("2023-11-14T23:13:20+01:00", T0),
        ("2023-11-14T22:13:20", T0),  # no zone: UTC
        ("2023-11-14T22:13:20.250Z", T0 + 0.25),
    ],
)
def test_parse_time_accepts_epoch_and_iso_8601(value: Any, expected: float) -> None:
    assert parse_time(value) == pytest.approx(expected)


def test_parse_time_refuses_garbage() -> None:
    with pytest.raises(ValidationException, match="Could not parse timestamp 'yesterday'"):
        parse_time("yesterday")
    with pytest.raises(ValidationException):
        page(list(RECORDS), {"CreationTimeAfter": "not a time"}, summary)


def test_iso_and_epoch_filters_agree() -> None:
    iso = dt.datetime.fromtimestamp(T0 + 3, dt.UTC).isoformat()
    assert names({"CreationTimeAfter": iso}) == names({"CreationTimeAfter": T0 + 3})


def test_paging_walks_every_item_once_in_order() -> None:
    many = [rec(f"m{i:02d}", T0 + i) for i in range(23)]
    req: dict[str, Any] = {"SortBy": "Name", "SortOrder": "Ascending", "MaxResults": 5}
    seen: list[str] = []
    sizes: list[int] = []
    while True:
        items, token = page(list(many), req, summary)
        seen += [i["Name"] for i in items]
        sizes.append(len(items))
        if token is None:
            break
        req["NextToken"] = token
    assert seen == [r.name for r in many]
    assert sizes == [5, 5, 5, 5, 3]


def test_default_max_results_and_exact_fit() -> None:
    many = [rec(f"m{i:02d}", T0 + i) for i in range(10)]
    items, token = page(list(many), {}, summary)
    assert len(items) == 10 and token is None  # exactly one full page: no token
    items, token = page([*many, rec("m10", T0 + 10)], {}, summary)
    assert len(items) == 10 and token is not None
    items, token = page(list(many), {}, summary, default_max=3)
    assert len(items) == 3 and token is not None


def test_token_past_the_end_gives_an_empty_last_page() -> None:
    items, token = page(list(RECORDS), {"NextToken": encode_token(100)}, summary)
    assert items == [] and token is None


def test_token_round_trip_and_opacity() -> None:
    for offset in (0, 1, 99, 10**6):
        token = encode_token(offset)
        assert decode_token(token) == offset
        assert token != str(offset)


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "!!!",
        encode_token(0)[:-3],
        "e30=",  # {}
        "eyJvZmZzZXQiOiAtMX0=",  # {"offset": -1}
        "eyJvZmZzZXQiOiAieCJ9",  # {"offset": "x"}
        "eyJvZmZzZXQiOiB0cnVlfQ==",  # {"offset": true}
        "eyJvZmZzZXQiOiAxLjV9",  # {"offset": 1.5}
        "WzFd",  # [1]
    ],
)
def test_garbage_tokens_are_validation_errors(token: str) -> None:
    with pytest.raises(ValidationException) as err:
        decode_token(token)
    assert err.value.message == "Invalid pagination token: NextToken does not come from a previous call."
