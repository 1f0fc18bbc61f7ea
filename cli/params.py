"""Turning command-line values into API request members: JSON inline or file://, YAML specs,
and the friendlier key=value shorthands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
import yaml

SCHEMES = ("s3://", "https://", "file://", "/")


def load_value(value: str, what: str) -> Any:
    """AWS CLI style: inline JSON, or file://path holding JSON or YAML."""
    text = value
    if value.startswith("file://"):
        path = Path(value[len("file://") :]).expanduser()
        try:
            text = path.read_text()
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint=what) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise typer.BadParameter(f"not valid JSON or YAML: {exc}", param_hint=what) from exc


def load_spec(path: str, section: str | None = None) -> tuple[dict[str, Any], Path]:
    """A whole request from a YAML/JSON file. A pipeline spec (model/endpointConfig/endpoint
    sections) works too: the right section is taken."""
    p = Path(path).expanduser()
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {p}: {exc.strerror}", param_hint="-f") from exc
    except yaml.YAMLError as exc:
        raise typer.BadParameter(f"{p} is not valid YAML or JSON: {exc}", param_hint="-f") from exc
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{p} must hold a mapping of request members", param_hint="-f")
    if section and isinstance(data.get(section), dict):
        data = data[section]
    return data, p.resolve().parent


def absolutize_model_data(containers: list[dict[str, Any]], base: Path) -> None:
    """Local relative paths mean 'relative to where I am' (or to the spec file): the daemon runs
    elsewhere, so send it absolute paths."""
    for c in containers:
        url = c.get("ModelDataUrl")
        if not isinstance(url, str) or not url:
            continue
        if url.startswith("file://") and not url[len("file://") :].startswith(("/", "localhost/")):
            c["ModelDataUrl"] = (base / url[len("file://") :]).resolve().as_uri()  # file://./m.tar.gz
        elif not url.startswith(SCHEMES):
            c["ModelDataUrl"] = str((base / url).resolve())


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
            raise typer.BadParameter(f"expected key=value, got {part!r}", param_hint=what)
        key, _, val = part.partition("=")
        if key.startswith("env."):
            out.setdefault("Environment", {})[key[4:]] = val
            continue
        if key not in keys:
            raise typer.BadParameter(f"unknown key {key!r}; use one of {', '.join(keys)}", param_hint=what)
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
        if v.startswith(("[", "file://")):
            tags.extend(load_value(v, "--tags"))
            continue
        key, _, val = v.partition("=")
        tags.append({"Key": key, "Value": val})
    return tags


def put(req: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        req[key] = value
