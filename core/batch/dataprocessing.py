"""SageMaker batch-transform DataProcessing: InputFilter, JoinSource and OutputFilter over CSV, JSON
and JSON Lines records, one record at a time. Design notes: docs/dataprocessing.md."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final, TypeAlias

SLICE_END_INCLUSIVE: Final = True
MAX_PATH_LENGTH: Final = 63
DEFAULT_PATH: Final = "$"

CSV: Final = "text/csv"
JSON: Final = "application/json"
JSONLINES: Final = "application/jsonlines"
SUPPORTED_CONTENT_TYPES: Final = (CSV, JSON, JSONLINES)

JOIN_NONE: Final = "None"
JOIN_INPUT: Final = "Input"

SAGEMAKER_INPUT_KEY: Final = "SageMakerInput"
SAGEMAKER_OUTPUT_KEY: Final = "SageMakerOutput"

JsonValue: TypeAlias = Any


class DataProcessingError(ValueError):
    """A record cannot be filtered or joined as the DataProcessing settings ask."""


class InvalidJsonPathError(DataProcessingError):
    """A JSONPath expression lies outside the subset SageMaker supports."""

    def __init__(self, expr: str, reason: str) -> None:
        super().__init__(f"Invalid JSONPath {expr!r}: {reason}")
        self.expr = expr
        self.reason = reason


# --------------------------------------------------------------------------------------------------
# JSON with byte-faithful numbers


class JsonNumber(float):
    """A parsed JSON number that remembers its source text, so re-serialising does not reformat it."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> JsonNumber:
        number = super().__new__(cls, text)
        number.text = text
        return number


# Shared by every parse so non-integer numbers come back as JsonNumber.
JSON_DECODER: Final = json.JSONDecoder(parse_float=JsonNumber)


def loads_json(text: str) -> JsonValue:
    """Parse one JSON document, keeping the source text of non-integer numbers."""
    return JSON_DECODER.decode(text)


def dumps_json(value: JsonValue) -> str:
    """Serialise compactly, writing JsonNumber values back as their source text."""
    out: list[str] = []
    _encode_json(value, out)
    return "".join(out)


def _encode_json(value: JsonValue, out: list[str]) -> None:
    if isinstance(value, JsonNumber):
        out.append(value.text)
    elif value is None or isinstance(value, bool | int | float | str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Mapping):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _encode_json(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode_json(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot serialise {type(value).__name__} as JSON")


# --------------------------------------------------------------------------------------------------
# JSONPath subset


@dataclass(frozen=True)
class _Names:
    names: tuple[str, ...]


@dataclass(frozen=True)
class _Wildcard:
    pass


@dataclass(frozen=True)
class _Indexes:
    indexes: tuple[int, ...]


@dataclass(frozen=True)
class _Slice:
    start: int | None
    end: int | None


_Segment: TypeAlias = _Names | _Wildcard | _Indexes | _Slice


def _is_single(segment: _Segment) -> bool:
    if isinstance(segment, _Names):
        return len(segment.names) == 1
    if isinstance(segment, _Indexes):
        return len(segment.indexes) == 1
    return False


@dataclass(frozen=True)
class JsonPath:
    """A compiled JSONPath from the SageMaker subset. Build it with :func:`compile_path`."""

    expr: str
    segments: tuple[_Segment, ...]

    @property
    def is_root(self) -> bool:
        return not self.segments

    @property
    def is_definite(self) -> bool:
        """True when :meth:`select` returns a value rather than a list of matches."""
        if not self.segments:
            return True
        *head, last = self.segments
        return all(_is_single(s) for s in head) and (_is_single(last) or isinstance(last, _Names))

    @property
    def is_index_only(self) -> bool:
        """True for the paths a CSV row allows: ``$``, ``$[i,...]`` or ``$[start:end]``."""
        # A CSV row is flat, so a second step would index into a string field.
        return len(self.segments) <= 1 and all(isinstance(s, _Indexes | _Slice) for s in self.segments)

    def select(self, value: JsonValue) -> JsonValue:
        """Apply the path; see the module docstring for the result shape and error rules."""
        definite = self.is_definite
        current: list[JsonValue] = [value]
        last = len(self.segments) - 1
        for i, segment in enumerate(self.segments):
            matched: list[JsonValue] = []
            for item in current:
                matched.extend(self._step(segment, item, leaf=i == last, strict=definite))
            current = matched
        return current[0] if definite else current

    def _step(self, segment: _Segment, item: JsonValue, *, leaf: bool, strict: bool) -> list[JsonValue]:
        if isinstance(segment, _Wildcard):
            if isinstance(item, dict):
                return list(item.values())
            return list(item) if isinstance(item, list) else []

        if isinstance(segment, _Names):
            if not isinstance(item, dict):
                if strict:
                    raise self._error(f"expected an object for {_describe(segment)}, found {_kind(item)}")
                return []
            if len(segment.names) == 1:
                name = segment.names[0]
                if name in item:
                    return [item[name]]
                if strict:
                    raise self._error(f"key {name!r} not found")
                return []
            present = [name for name in segment.names if name in item]
            if leaf:
                return [{name: item[name] for name in present}]
            return [item[name] for name in present]

        if not isinstance(item, list):
            if strict:
                raise self._error(f"expected an array for {_describe(segment)}, found {_kind(item)}")
            return []

        if isinstance(segment, _Indexes):
            picked: list[JsonValue] = []
            for index in segment.indexes:
                position = index + len(item) if index < 0 else index
                if not 0 <= position < len(item):
                    raise self._error(f"index {index} is out of range for an array of {len(item)} items")
                picked.append(item[position])
            return picked

        return [item[i] for i in _slice_positions(segment, len(item))]

    def _error(self, reason: str) -> DataProcessingError:
        return DataProcessingError(f"JSONPath {self.expr}: {reason}")


def _slice_positions(segment: _Slice, length: int) -> range:
    start = 0 if segment.start is None else segment.start
    if start < 0:
        start += length
    if segment.end is None:
        stop = length
    else:
        end = segment.end + length if segment.end < 0 else segment.end
        # The one place slice-end semantics live; see the module docstring.
        stop = end + 1 if SLICE_END_INCLUSIVE else end
    return range(max(start, 0), min(max(stop, 0), length))


def _describe(segment: _Segment) -> str:
    if isinstance(segment, _Names):
        return "[" + ",".join(repr(n) for n in segment.names) + "]"
    if isinstance(segment, _Indexes):
        return "[" + ",".join(str(i) for i in segment.indexes) + "]"
    if isinstance(segment, _Slice):
        start = "" if segment.start is None else str(segment.start)
        end = "" if segment.end is None else str(segment.end)
        return f"[{start}:{end}]"
    return "[*]"


def _kind(value: JsonValue) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


# Dot names exclude JSONPath punctuation so `$.a[0]`, `$.a.b` and filters tokenise unambiguously;
# any other key can still be reached with bracket notation.
_DOT_NAME = re.compile(r"[^.\[\]*'\"()?@,:\s\\]+")
_INT = r"-?[0-9]+"
_INDEXES = re.compile(rf"\s*({_INT}(?:\s*,\s*{_INT})*)\s*\]")
_SLICE = re.compile(rf"\s*({_INT})?\s*:\s*({_INT})?\s*\]")
_STEP_SLICE = re.compile(r"[^\]]*:[^\]]*:")


def compile_path(expr: str) -> JsonPath:
    """Parse a SageMaker JSONPath, raising :class:`InvalidJsonPathError` outside the supported subset."""
    if not isinstance(expr, str) or not expr:
        raise InvalidJsonPathError(str(expr), "the path is empty")
    if len(expr) > MAX_PATH_LENGTH:
        raise InvalidJsonPathError(expr, f"longer than {MAX_PATH_LENGTH} characters")
    if not expr.startswith("$"):
        raise InvalidJsonPathError(expr, "a path must start with '$'")

    segments: list[_Segment] = []
    pos = 1
    while pos < len(expr):
        char = expr[pos]
        if char == ".":
            pos += 1
            if expr.startswith(".", pos):
                raise InvalidJsonPathError(expr, "recursive descent '..' is not supported")
            if expr.startswith("*", pos):
                segments.append(_Wildcard())
                pos += 1
                continue
            match = _DOT_NAME.match(expr, pos)
            if not match:
                raise InvalidJsonPathError(expr, f"expected a name or '*' after '.' at position {pos - 1}")
            segments.append(_Names((match.group(),)))
            pos = match.end()
        elif char == "[":
            segment, pos = _parse_bracket(expr, pos + 1)
            segments.append(segment)
        else:
            raise InvalidJsonPathError(expr, f"unexpected {char!r} at position {pos}")
    return JsonPath(expr, tuple(segments))


def _parse_bracket(expr: str, pos: int) -> tuple[_Segment, int]:
    """Parse ``[...]`` from just after the ``[``; return the segment and the position after ``]``."""
    body_start = pos
    while pos < len(expr) and expr[pos] == " ":
        pos += 1
    head = expr[pos : pos + 1]
    if head == "*":
        close = pos + 1
        while close < len(expr) and expr[close] == " ":
            close += 1
        if not expr.startswith("]", close):
            raise InvalidJsonPathError(expr, f"expected ']' after '*' at position {close}")
        return _Wildcard(), close + 1
    if head == "?":
        raise InvalidJsonPathError(expr, "filter expressions '[?(...)]' are not supported")
    if head == "(":
        raise InvalidJsonPathError(expr, "script expressions '[(...)]' are not supported")
    if head in ("$", "@"):
        raise InvalidJsonPathError(expr, "nested paths are not allowed inside brackets")
    if head in ("'", '"'):
        return _parse_names(expr, pos)

    if match := _INDEXES.match(expr, body_start):
        indexes = tuple(int(part) for part in match.group(1).split(","))
        return _Indexes(indexes), match.end()
    if match := _SLICE.match(expr, body_start):
        start, end = (None if g is None else int(g) for g in match.groups())
        return _Slice(start, end), match.end()
    if _STEP_SLICE.match(expr, body_start):
        raise InvalidJsonPathError(expr, "slice steps '[start:end:step]' are not supported")
    if "]" not in expr[body_start:]:
        raise InvalidJsonPathError(expr, f"unclosed '[' at position {body_start - 1}")
    raise InvalidJsonPathError(expr, f"unsupported bracket expression at position {body_start - 1}")


def _parse_names(expr: str, pos: int) -> tuple[_Names, int]:
    names: list[str] = []
    while True:
        quote = expr[pos : pos + 1]
        if quote not in ("'", '"'):
            raise InvalidJsonPathError(expr, f"expected a quoted name at position {pos}")
        close = expr.find(quote, pos + 1)
        if close == -1:
            raise InvalidJsonPathError(expr, f"unterminated name starting at position {pos}")
        name = expr[pos + 1 : close]
        if "\\" in name:
            raise InvalidJsonPathError(expr, "escape sequences in names are not supported")
        if any(c in name for c in ".[]"):
            raise InvalidJsonPathError(expr, "nested paths are not allowed inside brackets")
        names.append(name)
        pos = close + 1
        while expr.startswith(" ", pos):
            pos += 1
        if expr.startswith("]", pos):
            return _Names(tuple(names)), pos + 1
        if not expr.startswith(",", pos):
            raise InvalidJsonPathError(expr, f"expected ',' or ']' at position {pos}")
        pos += 1
        while expr.startswith(" ", pos):
            pos += 1


# --------------------------------------------------------------------------------------------------
# Record codecs


def normalize_content_type(value: str | None) -> str | None:
    """``"Text/CSV; charset=utf-8"`` -> ``"text/csv"``; None or blank -> None."""
    if value is None:
        return None
    base = value.split(";", 1)[0].strip().lower()
    return base or None


def split_line_terminator(record: bytes) -> tuple[bytes, bytes]:
    """Separate a trailing ``\\r\\n`` or ``\\n`` (Line splitting keeps it) from the record body."""
    if record.endswith(b"\r\n"):
        return record[:-2], b"\r\n"
    if record.endswith(b"\n"):
        return record[:-1], b"\n"
    return record, b""


def _decode(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataProcessingError(f"{what} is not valid UTF-8: {exc}") from exc


def parse_csv_record(record: bytes) -> list[str]:
    """One CSV row as its fields, text kept verbatim (``1.50`` stays ``"1.50"``)."""
    body, _ = split_line_terminator(record)
    try:
        rows = list(csv.reader(io.StringIO(_decode(body, "CSV record"), newline="")))
    except csv.Error as exc:
        raise DataProcessingError(f"malformed CSV record: {exc}") from exc
    if len(rows) > 1:
        raise DataProcessingError("CSV record spans several lines; embedded newlines are not supported")
    return rows[0] if rows else []


def format_csv_record(fields: Sequence[str]) -> bytes:
    """Serialise one row with the csv module, without a line terminator."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    return buffer.getvalue().encode("utf-8")


def csv_field(value: JsonValue) -> str:
    """Render a JSON value as one CSV field: strings as-is, anything else as its JSON text."""
    return value if isinstance(value, str) else dumps_json(value)


def parse_json_record(record: bytes) -> JsonValue:
    """The single JSON value of an application/json or application/jsonlines record."""
    text = _decode(record, "JSON record")
    try:
        return loads_json(text.strip())
    except ValueError as exc:
        raise DataProcessingError(f"record is not valid JSON: {exc}") from exc


def format_json_record(value: JsonValue) -> bytes:
    return dumps_json(value).encode("utf-8")


def _require_supported(content_type: str | None, label: str) -> str:
    normalized = normalize_content_type(content_type)
    if normalized not in SUPPORTED_CONTENT_TYPES:
        raise DataProcessingError(
            f"{label} must be one of {', '.join(SUPPORTED_CONTENT_TYPES)} for DataProcessing, got {content_type!r}"
        )
    return normalized


def _parse_record(body: bytes, content_type: str) -> JsonValue:
    return parse_csv_record(body) if content_type == CSV else parse_json_record(body)


def _format_record(value: JsonValue, content_type: str) -> bytes:
    if content_type != CSV:
        return format_json_record(value)
    fields = value if isinstance(value, list) else [value]
    return format_csv_record([csv_field(v) for v in fields])


def _filter_record(record: bytes, content_type: str | None, path: JsonPath, label: str) -> bytes:
    if path.is_root:
        return record
    ctype = _require_supported(content_type, label)
    if ctype == CSV and not path.is_index_only:
        raise DataProcessingError(
            f"JSONPath {path.expr}: text/csv records allow only index-based paths ($, [i,j], [start:end])"
        )
    body, terminator = split_line_terminator(record)
    return _format_record(path.select(_parse_record(body, ctype)), ctype) + terminator


# --------------------------------------------------------------------------------------------------
# The three steps


def apply_input_filter(record: bytes, content_type: str | None, path: JsonPath) -> bytes:
    """InputFilter: what of the input record is sent to the model. Keeps the record's line terminator."""
    return _filter_record(record, content_type, path, "ContentType")


def join(input_record: bytes, output_record: bytes, input_content_type: str | None, accept: str | None) -> bytes:
    """JoinSource=Input: combine the ORIGINAL input record with the model's output for it.

    The result is in the Accept format and has no line terminator.
    """
    input_type = _require_supported(input_content_type, "ContentType")
    output_type = _require_supported(accept, "Accept")
    input_value = _parse_record(split_line_terminator(input_record)[0], input_type)
    output_body = output_record.rstrip(b"\r\n")

    if output_type == CSV:
        if isinstance(input_value, dict):
            raise DataProcessingError(
                "cannot join a JSON object input record into a text/csv output; use a JSON Accept type"
            )
        fields = input_value if isinstance(input_value, list) else [input_value]
        return format_csv_record([csv_field(v) for v in fields] + parse_csv_record(output_body))

    output_value = _json_or_text(output_body)
    if isinstance(input_value, dict):
        joined = dict(input_value)
        joined[SAGEMAKER_OUTPUT_KEY] = output_value
    else:
        joined = {SAGEMAKER_INPUT_KEY: input_value, SAGEMAKER_OUTPUT_KEY: output_value}
    return format_json_record(joined)


def _json_or_text(body: bytes) -> JsonValue:
    # Models often answer a JSON request with a bare label; keeping it as a string beats failing the file.
    text = _decode(body, "model output").strip()
    try:
        return loads_json(text)
    except ValueError:
        return text


def apply_output_filter(joined: bytes, accept: str | None, path: JsonPath) -> bytes:
    """OutputFilter: what of the joined (or plain output) record is written to the output file."""
    return _filter_record(joined, accept, path, "Accept")


# --------------------------------------------------------------------------------------------------
# The API object


def _path_or_default(value: Any) -> str:
    # The API model allows 0-63 characters; an empty filter can only mean "not set".
    return DEFAULT_PATH if value is None or value == "" else str(value)


@dataclass(frozen=True)
class DataProcessing:
    """CreateTransformJob's ``DataProcessing`` block."""

    input_filter: str = DEFAULT_PATH
    join_source: str = JOIN_NONE
    output_filter: str = DEFAULT_PATH

    @classmethod
    def from_api(cls, value: Mapping[str, Any] | None) -> DataProcessing:
        if not value:
            return cls()
        join_source = value.get("JoinSource")
        return cls(
            input_filter=_path_or_default(value.get("InputFilter")),
            join_source=JOIN_NONE if join_source is None else str(join_source),
            output_filter=_path_or_default(value.get("OutputFilter")),
        )

    def to_api(self) -> dict[str, str]:
        return {
            "InputFilter": self.input_filter,
            "JoinSource": self.join_source,
            "OutputFilter": self.output_filter,
        }

    @property
    def joins_input(self) -> bool:
        return self.join_source == JOIN_INPUT

    @property
    def is_default(self) -> bool:
        """True when records pass through untouched, so no format restrictions apply."""
        return (
            self.input_filter == DEFAULT_PATH and self.output_filter == DEFAULT_PATH and self.join_source == JOIN_NONE
        )

    @cached_property
    def input_path(self) -> JsonPath:
        return compile_path(self.input_filter)

    @cached_property
    def output_path(self) -> JsonPath:
        return compile_path(self.output_filter)

    def validate(
        self,
        content_type: str | None,
        accept: str | None,
        split_type: str | None,
        assemble_with: str | None,
    ) -> list[str]:
        """Human-readable reasons these settings cannot run; empty when they can."""
        problems: list[str] = []
        if self.join_source not in (JOIN_NONE, JOIN_INPUT):
            problems.append(f"JoinSource must be 'Input' or 'None', got {self.join_source!r}")
        paths: dict[str, JsonPath] = {}
        for label, expr in (("InputFilter", self.input_filter), ("OutputFilter", self.output_filter)):
            try:
                paths[label] = compile_path(expr)
            except InvalidJsonPathError as exc:
                problems.append(f"{label}: {exc}")
        if self.is_default:
            return problems

        supported = ", ".join(SUPPORTED_CONTENT_TYPES)
        input_type = normalize_content_type(content_type)
        output_type = normalize_content_type(accept)
        if input_type not in SUPPORTED_CONTENT_TYPES:
            problems.append(
                f"ContentType must be one of {supported} when DataProcessing filters or joins records, "
                f"got {content_type!r}"
            )
        if output_type not in SUPPORTED_CONTENT_TYPES:
            problems.append(
                f"Accept must be one of {supported} when DataProcessing filters or joins records, got {accept!r}"
            )

        split = split_type or "None"
        assemble = assemble_with or "None"
        if split in ("RecordIO", "TFRecord"):
            problems.append(f"DataProcessing works on CSV and JSON records only, not SplitType {split}")
        if CSV in (input_type, output_type):
            if split != "Line":
                problems.append(f"SplitType must be Line when DataProcessing is used with text/csv, got {split}")
            if assemble != "Line":
                problems.append(f"AssembleWith must be Line when DataProcessing is used with text/csv, got {assemble}")
        for label, ctype in (("InputFilter", input_type), ("OutputFilter", output_type)):
            path = paths.get(label)
            if ctype == CSV and path is not None and not path.is_index_only:
                problems.append(
                    f"{label} {path.expr!r}: text/csv records allow only index-based paths ($, [i,j], [start:end])"
                )
        return problems

    def filter_input(self, record: bytes, content_type: str | None) -> bytes:
        """The request body for one input record (InputFilter applied)."""
        return apply_input_filter(record, content_type, self.input_path)


def process_record(
    input_record: bytes,
    output_record: bytes,
    data_processing: DataProcessing,
    content_type: str | None,
    accept: str | None,
) -> bytes:
    """The final output record: join with the original input if asked, then apply the OutputFilter."""
    if data_processing.is_default:
        return output_record
    result = output_record
    if data_processing.joins_input:
        result = join(input_record, output_record, content_type, accept)
    return apply_output_filter(result, accept, data_processing.output_path)
