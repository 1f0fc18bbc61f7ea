"""The AWS CLI's output formats: json, text, table, yaml and yaml-stream, byte for byte.

json, text and table follow the AWS CLI v1's formatter, text and table modules (Apache-2.0, the
reference the conformance test runs); yaml and yaml-stream follow the AWS CLI v2 (v1 has neither).
They are ported rather than imported: importing awscli's table module costs 0.26 s (it pulls in
botocore and colorama), about what a whole `describe-*` one-shot may take. Only the standard library
is imported here; YAML is imported by the formats that need it.

A paginated result (pagination.Pages) is formatted as the AWS CLI formats one: json, table and yaml
print the merged result with --query applied to it once; text and yaml-stream print page by page,
applying --query to every page, and text ends with a NEXTTOKEN line when --max-items cut it.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import unicodedata
from collections.abc import Callable
from typing import IO, Any

FORMATS = ("json", "text", "table", "yaml", "yaml-stream")

Query = Callable[[Any], Any]


def write(fmt: str, command: str, data: Any, query: Query | None, stream: IO[str] | None = None) -> None:
    """Print ``data`` (an operation's response, or pagination.Pages) in ``fmt``; ``command`` titles
    a table, as the AWS CLI titles it with the operation's name."""
    from .pagination import Pages  # a sibling, standard library only

    out = stream or sys.stdout
    try:
        if fmt in ("text", "yaml-stream"):
            pages = data.formatted_pages() if isinstance(data, Pages) else [data]
            for page in pages:
                value = query(page) if query else page
                if fmt == "text":
                    format_text(value, out)
                else:
                    _yaml_dump([value], out)
            return
        full = data.full_result() if isinstance(data, Pages) else data
        value = query(full) if query else full
        if fmt == "json":
            if value != {}:  # an operation without output (Delete*) prints nothing
                json.dump(value, out, indent=4, ensure_ascii=False, default=str)
                out.write("\n")
        elif fmt == "table":
            table = MultiTable(terminal_width=_terminal_width(out))
            if build_table(table, command, value):
                table.render(out)
        elif fmt == "yaml":
            if value != {}:
                _yaml_dump(value, out)
        else:
            raise ValueError(f"Unknown output type: {fmt}")
    except BrokenPipeError:
        # The reader went away (`| head`): as the AWS CLI, stop quietly.
        with _suppress_os_error():
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces stdout for the interpreter's exit flush
    finally:
        with _suppress_os_error():
            out.flush()


class _suppress_os_error:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError)  # type: ignore[arg-type]


def _yaml_dump(value: Any, out: IO[str]) -> None:
    import yaml

    # Block style, keys in the API's order, as the AWS CLI v2 prints YAML.
    yaml.safe_dump(value, out, default_flow_style=False, sort_keys=False, allow_unicode=True)


# ---- text ---------------------------------------------------------------------------------


def format_text(
    item: Any, stream: IO[str], identifier: str | None = None, scalar_keys: list[str] | None = None
) -> None:
    """Tab-separated values: a dict's scalars on one line (keys sorted), its lists and dicts below,
    each line led by the upper-cased key that holds it; a bare scalar as itself."""
    if isinstance(item, dict):
        _text_dict(scalar_keys, item, identifier, stream)
    elif isinstance(item, list):
        _text_list(item, identifier, stream)
    else:
        stream.write(f"{_text(item)}\n")


def _text(value: Any) -> str:
    return str(value)


def _text_list(item: list[Any], identifier: str | None, stream: IO[str]) -> None:
    if not item:
        return
    if any(isinstance(el, dict) for el in item):
        all_keys = _all_scalar_keys(item)
        for element in item:
            format_text(element, stream, identifier, all_keys)
    elif any(isinstance(el, list) for el in item):
        scalars = [el for el in item if not isinstance(el, (list, dict))]
        non_scalars = [el for el in item if isinstance(el, (list, dict))]
        if scalars:
            _text_scalar_list(scalars, identifier, stream)
        for non_scalar in non_scalars:
            format_text(non_scalar, stream, identifier)
    else:
        _text_scalar_list(item, identifier, stream)


def _text_scalar_list(elements: list[Any], identifier: str | None, stream: IO[str]) -> None:
    if identifier is not None:
        for item in elements:
            stream.write(f"{identifier.upper()}\t{_text(item)}\n")
    else:
        stream.write("\t".join(_text(item) for item in elements) + "\n")


def _text_dict(scalar_keys: list[str] | None, item: dict[str, Any], identifier: str | None, stream: IO[str]) -> None:
    scalars: list[str] = []
    non_scalars: list[tuple[str, Any]] = []
    if scalar_keys is None:
        for key, value in sorted(item.items()):
            if isinstance(value, (dict, list)):
                non_scalars.append((key, value))
            else:
                scalars.append(_text(value))
    else:
        scalars = [_text(item.get(key, "")) for key in scalar_keys]
        non_scalars = [(key, item[key]) for key in sorted(set(item) - set(scalar_keys))]
    if scalars:
        if identifier is not None:
            scalars.insert(0, identifier.upper())
        stream.write("\t".join(scalars) + "\n")
    for key, value in non_scalars:
        format_text(value, stream, key)


def _all_scalar_keys(items: list[Any]) -> list[str]:
    return sorted({k for item in items if isinstance(item, dict) for k, v in item.items() if _scalar(v)})


# ---- table --------------------------------------------------------------------------------


def _terminal_width(stream: IO[str], default: int = 80) -> int:
    """The terminal's width; 80 when stdout is not one. The AWS CLI never cuts a cell: past this
    width it turns single-row sections vertical, so piped output is complete, just reshaped."""
    try:
        from fcntl import ioctl
        from termios import TIOCGWINSZ

        return int(struct.unpack("hhhh", ioctl(stream, TIOCGWINSZ, b"\000" * 8))[1]) or default
    except Exception:
        return default


def text_length(text: Any) -> int:
    """Display width: East Asian wide, full-width and ambiguous characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WFA" else 1 for ch in str(text))


def center_text(text: str, length: int, left_edge: str = "|", right_edge: str = "|") -> str:
    width = text_length(text)
    start = (length // 2) - (width // 2) - 1
    so_far = text_length(left_edge) + start + width
    return left_edge + " " * start + text + " " * (length - text_length(right_edge) - so_far) + right_edge


def align_left(text: str, length: int, left_edge: str = "|", right_edge: str = "|", left_padding: int = 2) -> str:
    width = text_length(text)
    padding = left_padding if length - (width + left_padding + len(left_edge) + len(right_edge)) >= 0 else 0
    so_far = len(left_edge) + padding + width
    return left_edge + " " * padding + text + " " * (length - so_far - len(right_edge)) + right_edge


class Section:
    def __init__(self) -> None:
        self.title: str | None = ""
        self.headers: list[str] = []
        self.rows: list[list[str]] = []
        self.indent_level = 0
        self._num_cols: int | None = None
        self._max_widths: list[int] = []

    def column_widths(self, padding: int = 0, max_width: int | None = None) -> list[int]:
        """Each column's width, scaled so they sum to ``max_width`` (rounding spread from the left
        when too wide, from the right when too narrow)."""
        unscaled = [w + padding for w in self._max_widths]
        if max_width is None or not unscaled:
            return unscaled
        factor = max_width / float(sum(unscaled))
        scaled = [int(round(factor * w)) for w in unscaled]
        off_by = sum(scaled) - max_width
        while off_by != 0:
            order = range(len(scaled)) if off_by > 0 else reversed(range(len(scaled)))
            for i in order:
                if off_by > 0:
                    scaled[i] -= 1
                    off_by -= 1
                else:
                    scaled[i] += 1
                    off_by += 1
                if off_by == 0:
                    break
        return scaled

    def total_width(self, padding: int = 0, with_border: bool = False, outer_padding: int = 0) -> int:
        total = sum(w + padding for w in self.column_widths())
        if with_border:
            total += 2
        total += 2 * outer_padding
        return max(text_length(self.title) + 2 + 2 * outer_padding, total)

    def add_header(self, headers: list[str]) -> None:
        self._update_max_widths(headers)
        if self._num_cols is None:
            self._num_cols = len(headers)
        self.headers = headers

    def add_row(self, row: list[Any]) -> None:
        if self._num_cols is None:
            self._num_cols = len(row)
        if len(row) != self._num_cols:
            raise ValueError(f"Row should have {self._num_cols} elements, instead it has {len(row)}")
        cells = [str(r) for r in row]
        self.rows.append(cells)
        self._update_max_widths(cells)

    def _update_max_widths(self, row: list[str]) -> None:
        if not self._max_widths:
            self._max_widths = [text_length(el) for el in row]
        else:
            for i, el in enumerate(row):
                self._max_widths[i] = max(text_length(el), self._max_widths[i])


class MultiTable:
    """Sections, each a title and rows, drawn with | and - at one common width."""

    def __init__(self, terminal_width: int = 80) -> None:
        self._sections: list[Section] = []
        self._current: Section | None = None
        self._terminal_width = terminal_width

    def new_section(self, title: str | None, indent_level: int = 0) -> None:
        self._current = Section()
        self._current.title = title
        self._current.indent_level = indent_level
        self._sections.append(self._current)

    def add_row_header(self, headers: list[str]) -> None:
        assert self._current is not None
        self._current.add_header(headers)

    def add_row(self, row: list[Any]) -> None:
        assert self._current is not None
        self._current.add_row(row)

    def render(self, stream: IO[str]) -> None:
        max_width = self._max_width()
        if max_width > self._terminal_width:
            self._convert_to_vertical()
            max_width = self._max_width()
        stream.write("-" * max_width + "\n")
        for section in self._sections:
            self._render_section(section, max_width, stream)

    def _max_width(self) -> int:
        return max(s.total_width(padding=4, with_border=True, outer_padding=s.indent_level) for s in self._sections)

    def _convert_to_vertical(self) -> None:
        for i, section in enumerate(self._sections):
            if len(section.rows) == 1 and section.headers:
                vertical = Section()
                vertical.title = section.title
                vertical.indent_level = section.indent_level
                for header, element in zip(section.headers, section.rows[0], strict=False):
                    vertical.add_row([header, element])
                self._sections[i] = vertical

    def _render_section(self, section: Section, max_width: int, stream: IO[str]) -> None:
        indent = "|" * section.indent_level
        lines: list[str] = []
        width = max_width - section.indent_level * 2
        if section.title:
            lines.append(center_text(section.title, width))
            if not section.headers and not section.rows:
                lines.append("+%s+" % ("-" * (width - 2)))
        if section.headers:
            widths = section.column_widths(padding=4, max_width=width)
            lines.append(_line_break(widths))
            lines.append(
                "".join(
                    center_text(h, w, left_edge="|" if i == 0 else "")
                    for i, (w, h) in enumerate(zip(widths, section.headers, strict=False))
                )
            )
        if section.rows:
            widths = section.column_widths(padding=4, max_width=width)
            if widths:
                lines.append(_line_break(widths))
                for row in section.rows:
                    lines.append(
                        "".join(
                            align_left(el, w, left_edge="|" if i == 0 else "")
                            for i, (w, el) in enumerate(zip(widths, row, strict=False))
                        )
                    )
                lines.append(_line_break(widths))
        for line in lines:
            stream.write(f"{indent}{line}{indent}\n")


def _line_break(widths: list[int]) -> str:
    return "".join(("+%s+" % ("-" * (w - 2))) if i == 0 else ("%s+" % ("-" * (w - 1))) for i, w in enumerate(widths))


def _scalar(value: Any) -> bool:
    return not isinstance(value, (list, dict))


def build_table(table: MultiTable, title: str | None, current: Any, indent_level: int = 0) -> bool:
    """Lay ``current`` out as the AWS CLI does without an output model: a dict's scalar members as
    one row under sorted headers, each nested list or dict a titled sub-section one level in."""
    if not current:
        return False
    if title is not None:
        table.new_section(title, indent_level=indent_level)
    if isinstance(current, list):
        if isinstance(current[0], dict):
            _table_from_list(table, current, indent_level, title)
        else:
            for item in current:
                if _scalar(item):
                    table.add_row([item])
                elif all(_scalar(el) for el in item):
                    table.add_row(item)
                else:
                    build_table(table, None, item)
    if isinstance(current, dict):
        headers, more = _group_scalar_keys(current)
        if len(headers) == 1:
            table.add_row([headers[0], current[headers[0]]])
        elif headers:
            table.add_row_header(headers)
            table.add_row([current[k] for k in headers])
        for key in more:
            build_table(table, key, current[key], indent_level=indent_level + 1)
    return True


def _table_from_list(table: MultiTable, current: list[Any], indent_level: int, title: str | None) -> None:
    header_set: set[str] = set()
    more_set: set[str] = set()
    for item in current:
        h, m = _group_scalar_keys(item)
        header_set.update(h)
        more_set.update(m)
    headers, more = sorted(header_set), sorted(more_set)
    table.add_row_header(headers)
    first = True
    for element in current:
        if not first and more:
            table.new_section(title, indent_level=indent_level)
            table.add_row_header(headers)
        first = False
        table.add_row([element.get(h, "") for h in headers])
        for key in more:
            if key in element:
                build_table(table, key, element[key], indent_level=indent_level + 1)


def _group_scalar_keys(current: dict[str, Any]) -> tuple[list[str], list[str]]:
    headers = sorted(k for k, v in current.items() if _scalar(v))
    more = sorted(k for k, v in current.items() if not _scalar(v))
    return headers, more
