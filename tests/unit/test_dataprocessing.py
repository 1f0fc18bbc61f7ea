"""DataProcessing (InputFilter / JoinSource / OutputFilter) and the JSONPath subset (docs/dataprocessing.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from inferpipe.core.batch.dataprocessing import (
    SLICE_END_INCLUSIVE,
    DataProcessing,
    DataProcessingError,
    InvalidJsonPathError,
    JsonNumber,
    apply_input_filter,
    apply_output_filter,
    compile_path,
    dumps_json,
    format_csv_record,
    join,
    loads_json,
    parse_csv_record,
    process_record,
)

CSV = "text/csv"
JSON = "application/json"
JSONL = "application/jsonlines"

ROW7 = ["c1", "c2", "c3", "c4", "c5", "c6", "c7"]
DOC: dict[str, Any] = {
    "id": 7,
    "features": [10, 20, 30, 40],
    "meta": {"a": 1, "b": 2},
    "rows": [{"x": 1, "y": 2}, {"x": 3, "y": 4}],
    "SageMakerOutput": {"label": 1},
}


# --------------------------------------------------------------------------------------------------
# JSONPath selection


@pytest.mark.parametrize(
    ("expr", "value", "expected"),
    [
        ("$", ROW7, ROW7),
        # AWS: "$[1:4]" = second through fifth columns (inclusive end).
        ("$[1:4]", ROW7, ["c2", "c3", "c4", "c5"]),
        # AWS: "$[:5]" = first through sixth column.
        ("$[:5]", ROW7, ["c1", "c2", "c3", "c4", "c5", "c6"]),
        ("$[2:5]", ROW7, ["c3", "c4", "c5", "c6"]),
        ("$[2:]", ROW7, ["c3", "c4", "c5", "c6", "c7"]),
        ("$[1:]", ROW7, ROW7[1:]),
        ("$[:]", ROW7, ROW7),
        ("$[-2:]", ROW7, ["c6", "c7"]),
        ("$[:-2]", ROW7, ROW7[:6]),
        ("$[1:-1]", ROW7, ROW7[1:]),
        ("$[3:3]", ROW7, ["c4"]),
        ("$[5:2]", ROW7, []),
        ("$[4:100]", ROW7, ["c5", "c6", "c7"]),
        ("$[9:]", ROW7, []),
        ("$[0]", ROW7, "c1"),
        ("$[-1]", ROW7, "c7"),
        ("$[-7]", ROW7, "c1"),
        ("$[0,-1]", ROW7, ["c1", "c7"]),
        ("$[1,3,5]", ROW7, ["c2", "c4", "c6"]),
        ("$[ 1 , 3 ]", ROW7, ["c2", "c4"]),
        ("$[*]", ROW7, ROW7),
        ("$.*", [1, 2], [1, 2]),
        ("$.id", DOC, 7),
        ("$['id']", DOC, 7),
        ('$["id"]', DOC, 7),
        ("$.meta.*", DOC, [1, 2]),
        ("$.meta[*]", DOC, [1, 2]),
        ("$.meta.b", DOC, 2),
        ("$.features[1]", DOC, 20),
        ("$.features[-1]", DOC, 40),
        ("$.features[1:2]", DOC, [20, 30]),
        ("$.rows[*].x", DOC, [1, 3]),
        ("$.rows[1].y", DOC, 4),
        ("$['id','SageMakerOutput']", DOC, {"id": 7, "SageMakerOutput": {"label": 1}}),
        ("$['id', 'meta']", DOC, {"id": 7, "meta": {"a": 1, "b": 2}}),
        ("$['id','missing']", DOC, {"id": 7}),
        ("$.rows[*]['x','y']", DOC, [{"x": 1, "y": 2}, {"x": 3, "y": 4}]),
        ("$['meta','rows'].a", DOC, [1]),
        ("$.*.a", DOC, [1]),
        ("$.rows[*].missing", DOC, []),
        ("$[1:]", {"a": 1}, []),
        ("$.*", 5, []),
        ("$.na-me_1", {"na-me_1": True}, True),
    ],
)
def test_select(expr: str, value: Any, expected: Any) -> None:
    assert compile_path(expr).select(value) == expected


def test_slice_end_is_inclusive_as_the_aws_docs_say() -> None:
    assert SLICE_END_INCLUSIVE is True
    row = [f"col{i}" for i in range(1, 8)]
    assert compile_path("$[1:4]").select(row) == ["col2", "col3", "col4", "col5"]


@pytest.mark.parametrize(
    ("expr", "value", "message"),
    [
        ("$[7]", ROW7, "index 7 is out of range for an array of 7 items"),
        ("$[-8]", ROW7, "index -8 is out of range"),
        ("$[0,9]", ROW7, "index 9 is out of range"),
        ("$[0,-1]", [], "index 0 is out of range for an array of 0 items"),
        ("$.features[4]", DOC, "index 4 is out of range"),
        ("$.rows[*].x[0]", {"rows": [{"x": [1]}, {"x": []}]}, "index 0 is out of range"),
        ("$.nope", DOC, "key 'nope' not found"),
        ("$.meta.a.b", DOC, "expected an object"),
        ("$.id", [1, 2], "expected an object"),
        ("$[0]", {"0": 1}, "expected an array"),
        ("$['a','b']", [1], "expected an object"),
    ],
)
def test_select_errors(expr: str, value: Any, message: str) -> None:
    with pytest.raises(DataProcessingError, match=message.replace("[", r"\[")) as info:
        compile_path(expr).select(value)
    assert expr in str(info.value)


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("", "empty"),
        ("id", "must start with '\\$'"),
        (" $", "must start with '\\$'"),
        ("$..id", "recursive descent"),
        ("$.a..b", "recursive descent"),
        ("$[?(@.a > 1)]", "filter expressions"),
        ("$[(@.length-1)]", "script expressions"),
        ("$['a.b']", "nested paths"),
        ("$['a[0]']", "nested paths"),
        ("$[$.a]", "nested paths"),
        ("$[@.a]", "nested paths"),
        ("$[1:4:2]", "slice steps"),
        ("$[::2]", "slice steps"),
        ("$.", "expected a name"),
        ("$.[0]", "expected a name"),
        ("$a", "unexpected 'a'"),
        ("$ .a", "unexpected ' '"),
        ("$[", "unclosed"),
        ("$[1", "unclosed"),
        ("$[]", "unsupported bracket"),
        ("$[1,]", "unsupported bracket"),
        ("$[a]", "unsupported bracket"),
        ("$[1.5]", "unsupported bracket"),
        ("$['a'", "expected ',' or ']'"),
        ("$['a',]", "expected a quoted name"),
        ("$['a", "unterminated name"),
        ("$['a\\'b']", "escape sequences"),
        ("$[*", "expected ']'"),
        ("$" + ".abcdefg" * 8, "longer than 63"),
    ],
)
def test_invalid_paths(expr: str, reason: str) -> None:
    with pytest.raises(InvalidJsonPathError, match=reason) as info:
        compile_path(expr)
    assert info.value.expr == expr
    assert isinstance(info.value, DataProcessingError)


def test_path_of_exactly_63_characters_is_allowed() -> None:
    expr = "$." + "a" * 61
    assert len(expr) == 63
    assert compile_path(expr).select({"a" * 61: 1}) == 1


@pytest.mark.parametrize(
    ("expr", "definite", "index_only"),
    [
        ("$", True, True),
        ("$[0]", True, True),
        ("$[0,1]", False, True),
        ("$[1:]", False, True),
        ("$[*]", False, False),
        ("$.a", True, False),
        ("$['a','b']", True, False),
        ("$[0][1]", True, False),
        ("$.a[*]", False, False),
    ],
)
def test_path_properties(expr: str, definite: bool, index_only: bool) -> None:
    path = compile_path(expr)
    assert path.is_definite is definite
    assert path.is_index_only is index_only


# --------------------------------------------------------------------------------------------------
# Codecs


@pytest.mark.parametrize(
    ("record", "fields"),
    [
        (b"1,2,3\n", ["1", "2", "3"]),
        (b"1,2,3\r\n", ["1", "2", "3"]),
        (b"1,2,3", ["1", "2", "3"]),
        (b'id,1.50,"a,b",""\n', ["id", "1.50", "a,b", ""]),
        (b"\n", []),
        (b"", []),
        ("caf\u00e9,x".encode(), ["caf\u00e9", "x"]),
        # Line splitting never produces this, but one quoted field with a newline is still one row.
        (b'"a\nb",c\n', ["a\nb", "c"]),
    ],
)
def test_parse_csv_record(record: bytes, fields: list[str]) -> None:
    assert parse_csv_record(record) == fields


def test_csv_round_trip_keeps_numbers_and_quotes_where_needed() -> None:
    fields = parse_csv_record(b'1.50,"a,b",1e3,"say ""hi"""\n')
    assert format_csv_record(fields) == b'1.50,"a,b",1e3,"say ""hi"""'


@pytest.mark.parametrize(
    "record",
    [b"a\nb", b"a,b\nc,d\n", b"\xff,1"],
)
def test_parse_csv_record_rejects(record: bytes) -> None:
    with pytest.raises(DataProcessingError):
        parse_csv_record(record)


def test_json_numbers_keep_their_source_text() -> None:
    text = '{"a":1.50,"b":1E3,"c":-0.0,"d":12345678901234567890,"e":[0.10]}'
    value = loads_json(text)
    assert isinstance(value["a"], JsonNumber) and value["a"] == 1.5
    assert dumps_json(value) == text


def test_dumps_json_is_compact_and_keeps_unicode() -> None:
    value = {"k": ["\u00e9", None, True, 1, 2.5, {"x": 'q"uote'}]}
    assert dumps_json(value) == '{"k":["\u00e9",null,true,1,2.5,{"x":"q\\"uote"}]}'
    assert json.loads(dumps_json(value)) == value


# --------------------------------------------------------------------------------------------------
# The three steps, with the examples AWS documents for them


@pytest.mark.parametrize(
    ("record", "content_type", "expr", "expected"),
    [
        # AWS documents: drop the ID column with InputFilter "$[1:]".
        (b"id1,1.50,2.0,3\n", CSV, "$[1:]", b"1.50,2.0,3\n"),
        (b"id1,1.50,2.0,3\r\n", CSV, "$[1:]", b"1.50,2.0,3\r\n"),
        (b"id1,1.50,2.0,3", CSV, "$[1:]", b"1.50,2.0,3"),
        (b"c1,c2,c3,c4,c5,c6,c7\n", CSV, "$[1:4]", b"c2,c3,c4,c5\n"),
        (b"c1,c2,c3\n", CSV, "$[-1]", b"c3\n"),
        (b'id,"a,b",x\n', CSV, "$[1,2]", b'"a,b",x\n'),
        (b"a,b\n", "text/csv; charset=utf-8", "$[0]", b"a\n"),
        (b'{"id":1,"features":[1.50,2]}\n', JSONL, "$.features", b"[1.50,2]\n"),
        (b'{"id":1,"features":[1.50,2]}', JSON, "$.features[0]", b"1.50"),
        (b'{"id":1,"f":2,"g":3}\n', JSONL, "$['f','g']", b'{"f":2,"g":3}\n'),
        (b'  {"id": 1}  ', JSON, "$.id", b"1"),
        # The root path never touches the record, whatever its type.
        (b"\x89PNG\x00", "image/png", "$", b"\x89PNG\x00"),
    ],
)
def test_apply_input_filter(record: bytes, content_type: str, expr: str, expected: bytes) -> None:
    assert apply_input_filter(record, content_type, compile_path(expr)) == expected


@pytest.mark.parametrize(
    ("record", "content_type", "expr", "message"),
    [
        (b"a,b\n", CSV, "$.a", "index-based"),
        (b"a,b\n", CSV, "$[*]", "index-based"),
        (b"a,b\n", CSV, "$[5]", "out of range"),
        (b"a,b\n", "image/png", "$[0]", "ContentType must be one of"),
        (b"a,b\n", None, "$[0]", "ContentType must be one of"),
        (b"not json\n", JSONL, "$.a", "not valid JSON"),
        (b'{"a":1}\n{"a":2}\n', JSONL, "$.a", "not valid JSON"),
    ],
)
def test_apply_input_filter_errors(record: bytes, content_type: str | None, expr: str, message: str) -> None:
    with pytest.raises(DataProcessingError, match=message):
        apply_input_filter(record, content_type, compile_path(expr))


@pytest.mark.parametrize(
    ("input_record", "output_record", "content_type", "accept", "expected"),
    [
        # AWS documents: record [1,2,3] plus result [1] gives [1,2,3,1].
        (b"1,2,3\n", b"1\n", CSV, CSV, b"1,2,3,1"),
        (b"1,2,3\r\n", b"1\r\n", CSV, CSV, b"1,2,3,1"),
        (b"id9,1.50\n", b"0.25,0.75", CSV, CSV, b"id9,1.50,0.25,0.75"),
        (b'x,"a,b"\n', b"y\n", CSV, CSV, b'x,"a,b",y'),
        # AWS documents: {"key":1} -> {"key":1,"SageMakerOutput":{"label":1}}.
        (b'{"key":1}', b'{"label":1}', JSON, JSON, b'{"key":1,"SageMakerOutput":{"label":1}}'),
        (b'{"key":1}\n', b'{"label":1}\n', JSONL, JSONL, b'{"key":1,"SageMakerOutput":{"label":1}}'),
        # AWS documents: a non-object input is wrapped under SageMakerInput.
        (b"[1,2,3]", b"0.5", JSON, JSON, b'{"SageMakerInput":[1,2,3],"SageMakerOutput":0.5}'),
        (b'"text"\n', b"[0.1,0.9]", JSONL, JSON, b'{"SageMakerInput":"text","SageMakerOutput":[0.1,0.9]}'),
        # AWS documents: an input attribute named SageMakerOutput is overwritten.
        (
            b'{"SageMakerOutput":"old","id":2}',
            b'{"label":0}',
            JSON,
            JSON,
            b'{"SageMakerOutput":{"label":0},"id":2}',
        ),
        # Output that is not JSON is kept as a string.
        (b'{"id":1}', b"positive\n", JSON, JSON, b'{"id":1,"SageMakerOutput":"positive"}'),
        # A CSV row joined into JSON is the array of its fields.
        (
            b"a,1.50\n",
            b'{"p":0.5}',
            CSV,
            JSON,
            b'{"SageMakerInput":["a","1.50"],"SageMakerOutput":{"p":0.5}}',
        ),
        # A JSON array joined into CSV contributes its items as fields.
        (b'[1.50,"x",null,{"a":1}]\n', b"7\n", JSONL, CSV, b'1.50,x,null,"{""a"":1}",7'),
        (b"3\n", b"7\n", JSONL, CSV, b"3,7"),
    ],
)
def test_join(input_record: bytes, output_record: bytes, content_type: str, accept: str, expected: bytes) -> None:
    assert join(input_record, output_record, content_type, accept) == expected


@pytest.mark.parametrize(
    ("input_record", "output_record", "content_type", "accept", "message"),
    [
        (b'{"id":1}', b"0.1,0.9\n", JSON, CSV, "JSON object input record into a text/csv"),
        (b"1,2\n", b"1\n", "image/png", CSV, "ContentType must be one of"),
        (b"1,2\n", b"1\n", CSV, None, "Accept must be one of"),
        (b"1,2\n", b"a\nb\n", CSV, CSV, "spans several lines"),
    ],
)
def test_join_errors(
    input_record: bytes, output_record: bytes, content_type: str, accept: str | None, message: str
) -> None:
    with pytest.raises(DataProcessingError, match=message):
        join(input_record, output_record, content_type, accept)


def test_join_keeps_json_numbers_byte_faithful() -> None:
    joined = join(b'{"a":1.50,"b":[1e3]}', b'{"p":0.10}', JSON, JSON)
    assert joined == b'{"a":1.50,"b":[1e3],"SageMakerOutput":{"p":0.10}}'


@pytest.mark.parametrize(
    ("joined", "accept", "expr", "expected"),
    [
        # AWS documents: "$[0,-1]" keeps the ID column and the inference.
        (b"id1,5.1,3.5,1.4,0.2,setosa", CSV, "$[0,-1]", b"id1,setosa"),
        (b"id1,5.1,3.5\n", CSV, "$[0]", b"id1\n"),
        (b"0.25,0.75\n", CSV, "$", b"0.25,0.75\n"),
        (
            b'{"id":1,"x":2,"SageMakerOutput":{"label":1}}',
            JSON,
            "$['id','SageMakerOutput']",
            b'{"id":1,"SageMakerOutput":{"label":1}}',
        ),
        (b'{"id":1,"SageMakerOutput":{"label":1}}', JSONL, "$.SageMakerOutput.label", b"1"),
        (b'{"SageMakerInput":[1,2],"SageMakerOutput":0.5}', JSON, "$.*", b"[[1,2],0.5]"),
    ],
)
def test_apply_output_filter(joined: bytes, accept: str, expr: str, expected: bytes) -> None:
    assert apply_output_filter(joined, accept, compile_path(expr)) == expected


def test_apply_output_filter_out_of_range_index_is_an_error() -> None:
    with pytest.raises(DataProcessingError, match="index 6 is out of range"):
        apply_output_filter(b"a,b,c", CSV, compile_path("$[0,6]"))


# --------------------------------------------------------------------------------------------------
# DataProcessing and process_record


def test_from_api_defaults_and_round_trip() -> None:
    assert DataProcessing.from_api(None) == DataProcessing()
    assert DataProcessing.from_api({}).is_default
    assert DataProcessing.from_api({"InputFilter": "", "OutputFilter": None}).is_default
    api = {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}
    dp = DataProcessing.from_api(api)
    assert dp.to_api() == api
    assert dp.joins_input and not dp.is_default
    assert DataProcessing().to_api() == {"InputFilter": "$", "JoinSource": "None", "OutputFilter": "$"}


CSV_JOIN = {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}


@pytest.mark.parametrize(
    ("api", "content_type", "accept", "split", "assemble", "expected"),
    [
        ({}, "image/png", None, "RecordIO", None, []),
        ({"InputFilter": "$", "JoinSource": "None", "OutputFilter": "$"}, None, None, None, None, []),
        (CSV_JOIN, CSV, CSV, "Line", "Line", []),
        (CSV_JOIN, "text/csv; charset=utf-8", "TEXT/CSV", "Line", "Line", []),
        ({"JoinSource": "Input"}, JSONL, JSONL, "Line", "Line", []),
        ({"JoinSource": "Input"}, JSON, JSON, None, None, []),
        ({"JoinSource": "Input", "OutputFilter": "$.SageMakerOutput"}, CSV, JSON, "Line", "Line", []),
        (CSV_JOIN, CSV, CSV, None, "Line", ["SplitType must be Line"]),
        (CSV_JOIN, CSV, CSV, "Line", None, ["AssembleWith must be Line"]),
        (CSV_JOIN, CSV, CSV, "None", "None", ["SplitType must be Line", "AssembleWith must be Line"]),
        ({"JoinSource": "Input"}, JSON, CSV, "Line", "None", ["AssembleWith must be Line"]),
        (CSV_JOIN, "image/png", CSV, "Line", "Line", ["ContentType must be one of"]),
        ({"OutputFilter": "$.a"}, JSON, None, None, None, ["Accept must be one of"]),
        ({"InputFilter": "$.id"}, CSV, CSV, "Line", "Line", ["InputFilter '$.id': text/csv"]),
        ({"OutputFilter": "$['a']"}, JSON, CSV, "Line", "Line", ["OutputFilter \"$['a']\": text/csv"]),
        ({"OutputFilter": "$[*]"}, CSV, CSV, "Line", "Line", ["OutputFilter '$[*]': text/csv"]),
        ({"InputFilter": "$.id"}, JSON, JSON, "RecordIO", None, ["not SplitType RecordIO"]),
        ({"JoinSource": "Output"}, JSON, JSON, None, None, ["JoinSource must be 'Input' or 'None'"]),
        ({"InputFilter": "$..a"}, JSON, JSON, None, None, ["InputFilter: Invalid JSONPath '$..a'"]),
        (
            {"InputFilter": "id"},
            None,
            None,
            None,
            None,
            ["InputFilter: Invalid JSONPath", "ContentType", "Accept"],
        ),
    ],
)
def test_validate(
    api: dict[str, str],
    content_type: str | None,
    accept: str | None,
    split: str | None,
    assemble: str | None,
    expected: list[str],
) -> None:
    problems = DataProcessing.from_api(api).validate(content_type, accept, split, assemble)
    assert len(problems) == len(expected), problems
    for problem, fragment in zip(problems, expected, strict=True):
        assert fragment in problem


def test_default_data_processing_passes_output_through_untouched() -> None:
    output = b"\x00 not even text \xff\n"
    assert process_record(b"whatever", output, DataProcessing(), "image/png", None) == output


def test_csv_pipeline_from_the_reference() -> None:
    """Drop the ID before inference, then keep the ID and the inference in the output."""
    dp = DataProcessing.from_api(CSV_JOIN)
    record = b"id42,5.1,3.5,1.4,0.2\n"
    assert dp.filter_input(record, CSV) == b"5.1,3.5,1.4,0.2\n"
    assert process_record(record, b"setosa\n", dp, CSV, CSV) == b"id42,setosa"


@pytest.mark.parametrize(
    ("api", "input_record", "output_record", "expected"),
    [
        (
            {"JoinSource": "Input"},
            b'{"id":1,"x":[1,2]}\n',
            b'{"label":1}',
            b'{"id":1,"x":[1,2],"SageMakerOutput":{"label":1}}',
        ),
        (
            {"JoinSource": "Input", "OutputFilter": "$['id','SageMakerOutput']"},
            b'{"id":1,"x":[1,2]}\n',
            b'{"label":1}\n',
            b'{"id":1,"SageMakerOutput":{"label":1}}',
        ),
        ({"OutputFilter": "$.label"}, b'{"id":1}', b'{"label":"cat","p":0.9}', b'"cat"'),
        ({"InputFilter": "$.x"}, b'{"id":1,"x":[1,2]}', b'{"label":1}\n', b'{"label":1}\n'),
    ],
)
def test_process_record_json(api: dict[str, str], input_record: bytes, output_record: bytes, expected: bytes) -> None:
    dp = DataProcessing.from_api(api)
    assert process_record(input_record, output_record, dp, JSONL, JSONL) == expected


def test_process_record_raises_for_an_invalid_path() -> None:
    dp = DataProcessing.from_api({"OutputFilter": "$[?(@.a)]"})
    with pytest.raises(InvalidJsonPathError):
        process_record(b"{}", b"{}", dp, JSON, JSON)
