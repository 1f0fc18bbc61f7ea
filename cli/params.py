"""Turning command-line values into API request members, the AWS CLI way: inline JSON or YAML,
the Key=Value shorthand, file:// and fileb:// values, relative paths made absolute, YAML specs, and
the friendlier key=value shorthands of --container and --variant.

Only the standard library is imported at module level: the invocation fast path (fast.py) reads
its --body here and must not pay for Typer or YAML; both are imported where a value needs them.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

SCHEMES = ("s3://", "https://", "http://")  # remote: the daemon resolves these, never the CLI
FILE = "file://"
FILEB = "fileb://"


def _bad(message: str, what: str) -> Exception:
    import typer

    return typer.BadParameter(message, param_hint=what)


def read_body(value: str) -> bytes:
    """An invocation body: fileb://path or @path (bytes as they are), file://path (text), '-' for
    stdin, or the literal itself."""
    if value.startswith(FILEB):
        return Path(value[len(FILEB) :]).expanduser().read_bytes()
    if value.startswith(FILE):
        return Path(value[len(FILE) :]).expanduser().read_text().encode()
    if value.startswith("@"):
        return Path(value[1:]).expanduser().read_bytes()
    if value == "-":
        return sys.stdin.buffer.read()
    return value.encode()


def load_value(value: str, what: str) -> Any:
    """A structured value: file:// or fileb:// holding JSON or YAML, inline JSON or YAML, or the
    shorthand ``Key=Value,Key={Nested=Value}``."""
    if value.startswith((FILE, FILEB)):
        scheme = FILEB if value.startswith(FILEB) else FILE
        path = Path(value[len(scheme) :]).expanduser()
        try:
            return _json_or_yaml(path.read_bytes().decode(), what)
        except OSError as exc:
            raise _bad(f"cannot read {path}: {exc.strerror}", what) from exc
        except UnicodeDecodeError as exc:
            raise _bad(f"{path} is not UTF-8 text: {exc.reason}", what) from exc
    if _is_shorthand(value.strip()):
        return _shorthand(value, what)
    return _json_or_yaml(value, what)


def _json_or_yaml(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise _bad(f"not valid JSON or YAML: {exc}", what) from exc


def _is_shorthand(text: str) -> bool:
    # A YAML mapping written inline ("Key: a=b") has its first ':' before its first '='; a
    # shorthand value may hold ':' only after a '=' (S3Uri=s3://...).
    if text.startswith(("{", "[")) or "=" not in text:
        return False
    return ":" not in text or text.index("=") < text.index(":")


def _shorthand(value: str, what: str) -> dict[str, Any]:
    text = value.strip()
    try:
        parsed, end = _pairs(text, 0, what)
    except IndexError:
        raise _bad(f"unbalanced shorthand {value!r}", what) from None
    if end != len(text):
        raise _bad(f"unexpected {text[end]!r} at position {end} of {value!r}", what)
    return parsed


def _pairs(s: str, i: int, what: str, nested: bool = False) -> tuple[dict[str, Any], int]:
    out: dict[str, Any] = {}
    while i < len(s):
        j = i
        while j < len(s) and s[j] not in "=,{}":
            j += 1
        if j >= len(s) or s[j] != "=":
            raise _bad(f"expected Key=Value at {s[i:]!r}", what)
        key, i = s[i:j].strip(), j + 1
        if s[i] == "{":
            out[key], i = _pairs(s, i + 1, what, nested=True)
            if s[i] != "}":
                raise _bad(f"missing '}}' after {key}", what)
            i += 1
        else:
            j = i
            while j < len(s) and s[j] not in ",}":
                j += 1
            raw = s[i:j].strip()
            out[key] = int(raw) if re.fullmatch(r"-?\d+", raw) else raw
            i = j
        if i < len(s) and s[i] == ",":
            i += 1
        elif i < len(s) and s[i] == "}" and nested:
            return out, i
        elif i < len(s):
            raise _bad(f"unexpected {s[i]!r} in {s!r}", what)
    return out, i


def absolute_path(value: Any, base: Path | None = None) -> Any:
    """A local path or file:// URL relative to `base` (the working directory, or the spec file's
    directory) made absolute, since the daemon runs elsewhere; remote URLs, absolute paths and
    anything not a string are returned as they are. A trailing '/' (a prefix) is kept."""
    if not isinstance(value, str) or not value or value.startswith(SCHEMES):
        return value
    base = base or Path.cwd()
    if value.startswith(FILE):
        rest = value[len(FILE) :]
        if rest.startswith(("/", "localhost/")):
            return value
        return _keep_slash((base / rest).resolve().as_uri(), rest)  # file://./m.tar.gz
    if value.startswith("/"):
        return value
    return _keep_slash(str((base / Path(value).expanduser()).resolve()), value)


def _keep_slash(resolved: str, original: str) -> str:
    return resolved + "/" if original.endswith("/") and not resolved.endswith("/") else resolved


def load_spec(path: str, section: str | None = None) -> tuple[dict[str, Any], Path]:
    """A whole request from a YAML/JSON file. A pipeline spec (model/endpointConfig/endpoint
    sections) works too: the right section is taken."""
    import yaml

    p = Path(path).expanduser()
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise _bad(f"cannot read {p}: {exc.strerror}", "-f") from exc
    except yaml.YAMLError as exc:
        raise _bad(f"{p} is not valid YAML or JSON: {exc}", "-f") from exc
    if not isinstance(data, dict):
        raise _bad(f"{p} must hold a mapping of request members", "-f")
    if section and isinstance(data.get(section), dict):
        data = data[section]
    return data, p.resolve().parent


def absolutize_model_data(containers: list[dict[str, Any]], base: Path) -> None:
    """Each container's local ModelDataUrl made absolute against `base` (see absolute_path)."""
    for c in containers:
        if "ModelDataUrl" in c:
            c["ModelDataUrl"] = absolute_path(c["ModelDataUrl"], base)


def _coerce(text: str) -> Any:
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def parse_shorthand(value: str, keys: dict[str, str], what: str) -> dict[str, Any]:
    """`a=1,b=x,env.K=V` into API members, with `keys` mapping short names to API names."""
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        if "=" not in part:
            raise _bad(f"expected key=value, got {part!r}", what)
        key, _, val = part.partition("=")
        if key.startswith("env."):
            out.setdefault("Environment", {})[key[4:]] = val
            continue
        if key not in keys:
            raise _bad(f"unknown key {key!r}; use one of {', '.join(keys)}", what)
        api = keys[key]
        out[api] = (
            val
            if api in ("ModelName", "VariantName", "Image", "ModelDataUrl", "ContainerHostname", "InstanceType")
            else _coerce(val)
        )
    return out


CONTAINER_KEYS = {"image": "Image", "model-data": "ModelDataUrl", "hostname": "ContainerHostname", "mode": "Mode"}
VARIANT_KEYS = {
    "name": "VariantName",
    "model": "ModelName",
    "instances": "InitialInstanceCount",
    "weight": "InitialVariantWeight",
    "instance-type": "InstanceType",
    "startup-timeout": "ContainerStartupHealthCheckTimeoutInSeconds",
}


def parse_tags(values: list[str] | None) -> list[dict[str, str]] | None:
    if not values:
        return None
    tags: list[dict[str, str]] = []
    for v in values:
        if v.startswith(("[", FILE, FILEB)):
            tags.extend(load_value(v, "--tags"))
            continue
        key, _, val = v.partition("=")
        tags.append({"Key": key, "Value": val})
    return tags


def put(req: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        req[key] = value
