"""An `aws sagemaker` command line turned into the operation's request, from botocore's model.

Every member of the operation's input shape is a flag, spelled as the AWS CLI spells it
(``--primary-container``, ``--max-payload-in-mb``); booleans are ``--flag`` / ``--no-flag``; a list
takes one or more values (``--tag-keys a b``, ``--tags Key=a,Value=1 Key=b,Value=2``) or a JSON
array; a structure or map takes JSON or the shorthand syntax; any value may be ``file://path``
(text) or ``fileb://path`` (bytes). Values are coerced from the member's type as the AWS CLI does.
``--cli-input-json``/``--cli-input-yaml`` give a whole request (flags on the line win), and
``--generate-cli-skeleton [input|yaml-input|output]`` prints a template instead of calling.

What is not a member flag is left on the line for the Typer command, which holds inferpipe's
friendlier extras (``--container``, ``--variant``, ``-f``, ``--wait``) and the help.

Standard library only at import (the fast path parses with it too).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import service_model, shorthand

SKELETONS = ("input", "yaml-input", "output")
INPUT_FLAGS = ("--cli-input-json", "--cli-input-yaml")
SKELETON_FLAG = "--generate-cli-skeleton"


class ArgumentError(Exception):
    """A usage error in the AWS CLI's words; exit code 252."""


@dataclass
class Parsed:
    operation: str
    request: dict[str, Any] = field(default_factory=dict)
    rest: list[str] = field(default_factory=list)  # what the Typer command parses
    skeleton: str | None = None
    from_input_file: bool = False


@dataclass(frozen=True)
class Flag:
    member: str
    shape: str
    type: str
    negated: bool = False  # --no-<boolean>


def flags(operation: str) -> dict[str, Flag]:
    """The operation's member flags by their command-line spelling."""
    ext = service_model.extract()
    top = service_model.input_shape(operation)
    out: dict[str, Flag] = {}
    for member, ref in top.get("members", {}).items():
        kind = ext["shapes"][ref["shape"]]["type"]
        name = "--" + service_model.cli_name(member)
        out[name] = Flag(member, ref["shape"], kind)
        if kind == "boolean":
            out["--no-" + service_model.cli_name(member)] = Flag(member, ref["shape"], kind, negated=True)
    return out


def _is_option(token: str) -> bool:
    if not token.startswith("-") or token == "-":
        return False
    try:  # a negative number is a value, as argparse has it
        float(token)
        return False
    except ValueError:
        return True


def split(operation: str, argv: list[str]) -> Parsed:
    """Takes the operation's member flags (and the input/skeleton flags) out of `argv`."""
    table = flags(operation)
    parsed = Parsed(operation)
    given: dict[str, Any] = {}
    input_doc: dict[str, Any] | None = None
    i = 0
    while i < len(argv):
        token = argv[i]
        name, eq, inline = token.partition("=") if token.startswith("--") else (token, "", "")
        if name in table:
            flag = table[name]
            if flag.type == "boolean":
                if eq:
                    raise ArgumentError(f"argument {name}: ignored explicit argument '{inline}'")
                given[flag.member] = not flag.negated
                i += 1
                continue
            values = [inline] if eq else []
            j = i + 1
            if not eq:
                while j < len(argv) and not _is_option(argv[j]):
                    values.append(argv[j])
                    j += 1
                    if flag.type != "list":
                        break
            if not values:
                what = "one or more arguments" if flag.type == "list" else "one argument"
                raise ArgumentError(f"argument {name}: expected {what}")
            given[flag.member] = convert(flag, name, values)
            i = j
        elif name in INPUT_FLAGS:
            value = inline if eq else (argv[i + 1] if i + 1 < len(argv) else None)
            if value is None:
                raise ArgumentError(f"argument {name}: expected one argument")
            input_doc = _input_document(name, value)
            parsed.from_input_file = True
            i += 1 if eq else 2
        elif name == SKELETON_FLAG:
            if eq:
                parsed.skeleton, i = inline, i + 1
            elif i + 1 < len(argv) and argv[i + 1] in SKELETONS:
                parsed.skeleton, i = argv[i + 1], i + 2
            else:
                parsed.skeleton, i = "input", i + 1
            if parsed.skeleton not in SKELETONS:
                raise ArgumentError(
                    f"argument {SKELETON_FLAG}: invalid choice: '{parsed.skeleton}'"
                    f" (choose from {', '.join(repr(s) for s in SKELETONS)})"
                )
        else:
            parsed.rest.append(token)
            i += 1
    # As the AWS CLI: members named on the line win over the same members in the input file.
    parsed.request = {**(input_doc or {}), **given}
    return parsed


def _input_document(name: str, value: str) -> dict[str, Any]:
    text = read_paramfile(value, name)
    if isinstance(text, bytes):
        text = text.decode()
    if name == "--cli-input-yaml":
        import yaml

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ArgumentError(f"Error parsing parameter '{name}': Invalid YAML received: {exc}") from None
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArgumentError(f"Error parsing parameter '{name}': Invalid JSON received: {exc}") from None
    if not isinstance(doc, dict):
        raise ArgumentError(f"Error parsing parameter '{name}': it must hold a mapping of request members")
    return doc


def read_paramfile(value: str, name: str) -> str | bytes:
    """`file://` (text) and `fileb://` (bytes) values read as the AWS CLI reads them; anything else
    is the value itself."""
    for prefix, mode in (("file://", "r"), ("fileb://", "rb")):
        if value.startswith(prefix):
            path = Path(value[len(prefix) :]).expanduser()
            try:
                return path.read_bytes() if mode == "rb" else path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise ArgumentError(
                    f"Error parsing parameter '{name}': Unable to load paramfile {value}: {exc}"
                ) from None
    return value


def convert(flag: Flag, name: str, values: list[str]) -> Any:
    """The command-line value(s) of one member as the request holds it."""
    ext = service_model.extract()
    shape = ext["shapes"][flag.shape]
    try:
        if flag.type == "list":
            raw = [_text(read_paramfile(v, name)) for v in values]
            if len(raw) == 1 and raw[0].lstrip().startswith("["):
                return _coerce(json.loads(raw[0]), flag.shape, name)
            member = shape["member"]["shape"]
            if ext["shapes"][member]["type"] in ("structure", "map"):
                items = [json.loads(v) if v.lstrip().startswith("{") else shorthand.parse(v) for v in raw]
                return _coerce(items, flag.shape, name)
            return [_coerce(v, member, name) for v in raw]
        value = values[0]
        if flag.type == "blob":
            return value  # the command reads the body itself (params.read_body)
        text = _text(read_paramfile(value, name))
        if flag.type in ("structure", "map"):
            parsed = json.loads(text) if text.lstrip().startswith("{") else shorthand.parse(text)
            return _coerce(parsed, flag.shape, name)
        return _coerce(text, flag.shape, name)
    except json.JSONDecodeError as exc:
        raise ArgumentError(
            f"Error parsing parameter '{name}': Invalid JSON: {exc}\nJSON received: {values[0]}"
        ) from None
    except (shorthand.ShorthandError, shorthand.DuplicateKeyError) as exc:
        raise ArgumentError(f"Error parsing parameter '{name}': {exc}") from None


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _coerce(value: Any, shape_name: str, name: str) -> Any:
    """Strings from the shorthand (or JSON values) given the member's type: a scalar where a list
    is expected becomes a one-item list, numbers and booleans are converted, anything else is
    left for the request's validation to report."""
    shape = service_model.shape(shape_name)
    kind = shape["type"]
    if kind == "structure" and isinstance(value, dict):
        members = shape.get("members", {})
        return {k: _coerce(v, members[k]["shape"], name) if k in members else v for k, v in value.items()}
    if kind == "list":
        items = value if isinstance(value, list) else [value]
        return [_coerce(v, shape["member"]["shape"], name) for v in items]
    if kind == "map" and isinstance(value, dict):
        return {k: _coerce(v, shape["value"]["shape"], name) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    try:
        if kind in ("integer", "long"):
            return int(value)
        if kind in ("float", "double"):
            return float(value)
    except ValueError:
        raise ArgumentError(f"Error parsing parameter '{name}': invalid {kind} value: '{value}'") from None
    if kind == "boolean":
        low = value.lower()
        return True if low == "true" else False if low == "false" else value
    if kind == "timestamp":
        return _timestamp(value, name)
    return value


def _timestamp(value: str, name: str) -> float:
    """A timestamp as botocore sends it on the JSON protocol: seconds since the epoch."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ArgumentError(f"Error parsing parameter '{name}': Invalid timestamp value: '{value}'") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def missing_required(operation: str, request: dict[str, Any]) -> list[str]:
    """The input shape's required members absent from `request`, as flags."""
    top = service_model.input_shape(operation)
    return ["--" + service_model.cli_name(m) for m in top.get("required", []) if request.get(m) is None]


def check_required(operation: str, request: dict[str, Any]) -> None:
    missing = missing_required(operation, request)
    if missing:
        raise ArgumentError(f"the following arguments are required: {', '.join(missing)}")


def validate(operation: str, request: dict[str, Any]) -> None:
    """The whole request against the input shape, with botocore's own client-side validator, as
    the AWS CLI does before it sends anything: nested required members, unknown keys, types."""
    from botocore.model import ShapeResolver
    from botocore.validate import ParamValidator

    ext = service_model.extract()
    input_shape = ShapeResolver(ext["shapes"]).get_shape_by_name(ext["operations"][operation]["input"])
    report = ParamValidator().validate(request, input_shape)
    if report.has_errors():
        raise ArgumentError(f"Parameter validation failed:\n{report.generate_report()}")


def skeleton(operation: str, kind: str) -> Any:
    """The template --generate-cli-skeleton prints, made by botocore's ArgumentGenerator as the AWS
    CLI makes it (member names as the values of the output's strings)."""
    from botocore.model import ShapeResolver
    from botocore.utils import ArgumentGenerator

    ext = service_model.extract()
    op = ext["operations"][operation]
    resolver = ShapeResolver(ext["shapes"])
    if kind == "output":
        return (
            ArgumentGenerator(use_member_names=True).generate_skeleton(resolver.get_shape_by_name(op["output"]))
            if "output" in op
            else {}
        )
    return ArgumentGenerator().generate_skeleton(resolver.get_shape_by_name(op["input"]))
