"""The slice of botocore's service models the command line needs, cached as compact JSON.

Every `aws sagemaker` command inferpipe offers takes its flags, types and required members from
botocore's model of the operation's input shape. Loading botocore's whole SageMaker model costs
about 250 ms (botocore.loaders plus a 3 MB JSON file), which alone is most of a one-shot
describe-*'s budget; so the operations the daemon serves, the shapes they reach and the waiters
are extracted once into ``$INFERPIPE_HOME/cache/cli-model-<botocore version>-<format>.json`` (documentation cut to
its first sentence) and read from there with the standard library in a few milliseconds. A new
botocore gets a new file, so the extract never outlives the model it came from.

Standard library only at import: the fast path (fast.py) reads the extract too.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from inferpipe.core.api.supported import RUNTIME_OPERATIONS, SUPPORTED_OPERATIONS

# The operations the CLI offers under their AWS CLI names, by service: the daemon's own table.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "sagemaker": SUPPORTED_OPERATIONS,
    "sagemaker-runtime": RUNTIME_OPERATIONS,
}
WAITERS = ("EndpointInService", "EndpointDeleted", "TransformJobCompletedOrStopped")
FORMAT = 3  # bump when the extract's layout or OPERATIONS change


def cli_name(name: str) -> str:
    """A member or operation name as the AWS CLI spells it on the command line (botocore's
    xform_name with '-': CreateModel -> create-model, MaxPayloadInMB -> max-payload-in-mb)."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1-\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", s)
    return s.replace("--", "-").lower()


def botocore_version() -> str:
    """botocore's version read from its package, without importing it (that costs 100 ms)."""
    spec = importlib.util.find_spec("botocore")
    if spec is None or spec.origin is None:
        return "none"
    m = re.search(r"^__version__ = ['\"]([^'\"]+)['\"]", Path(spec.origin).read_text(), re.M)
    return m.group(1) if m else "unknown"


def cache_path() -> Path:
    home = Path(os.environ.get("INFERPIPE_HOME") or Path.home() / ".inferpipe").expanduser()
    return home / "cache" / f"cli-model-{botocore_version()}-{FORMAT}.json"


@functools.cache
def extract() -> dict[str, Any]:
    """{"operations": {name: {...}}, "shapes": {...}, "waiters": {...}} for the offered operations."""
    path = cache_path()
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    data = build()
    if not path.parent.parent.is_dir():
        return data  # the home is made by the daemon's start, owner-only: never here
    try:  # a cache that cannot be written only costs the next run the build again
        path.parent.mkdir(mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".cli-model-")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, separators=(",", ":"))
        os.replace(tmp, path)
    except OSError:
        pass
    return data


def _first_sentence(html: str) -> str:
    text = re.sub(r"<[^>]+>", "", html or "")
    text = re.sub(r"\s+", " ", text).strip()
    m = re.match(r"(.+?\.)(\s|$)", text)
    return (m.group(1) if m else text)[:300]


def build() -> dict[str, Any]:
    """The extract, from botocore's models (slow: only when the cached file is missing)."""
    from botocore.loaders import Loader

    loader = Loader()
    operations: dict[str, Any] = {}
    shapes: dict[str, Any] = {}
    for service, names in OPERATIONS.items():
        model = loader.load_service_model(service, "service-2")
        for name in names:
            op = model["operations"][name]
            entry = {"service": service, "doc": _first_sentence(op.get("documentation", ""))}
            for io in ("input", "output"):
                if io in op:
                    entry[io] = _closure(model["shapes"], op[io]["shape"], shapes, service)
            operations[name] = entry
    waiters = loader.load_service_model("sagemaker", "waiters-2")["waiters"]
    pages = loader.load_service_model("sagemaker", "paginators-1")["pagination"]
    return {
        "operations": operations,
        "shapes": shapes,
        "waiters": {name: waiters[name] for name in WAITERS},
        "paginators": {name: pages[name] for name in operations if name in pages},
    }


def _closure(source: dict[str, Any], name: str, out: dict[str, Any], service: str) -> str:
    """Copies shape `name` and every shape it reaches into `out`; returns its key there (shapes of
    sagemaker-runtime are prefixed: both models have an `EndpointName`)."""
    key = name if service == "sagemaker" else f"{service}:{name}"
    if key in out:
        return key
    shape = {k: v for k, v in source[name].items() if k != "documentation"}
    out[key] = shape
    if shape["type"] == "structure":
        members = {}
        for member, ref in shape.get("members", {}).items():
            m = {k: v for k, v in ref.items() if k != "documentation"}
            m["shape"] = _closure(source, ref["shape"], out, service)
            if ref.get("documentation"):
                m["doc"] = _first_sentence(ref["documentation"])
            members[member] = m
        shape["members"] = members
    elif shape["type"] == "list":
        shape["member"] = {"shape": _closure(source, shape["member"]["shape"], out, service)}
    elif shape["type"] == "map":
        shape["key"] = {"shape": _closure(source, shape["key"]["shape"], out, service)}
        shape["value"] = {"shape": _closure(source, shape["value"]["shape"], out, service)}
    return key


def command_operations() -> dict[str, str]:
    """{"create-model": "CreateModel", ...}: every offered operation by its AWS CLI command name."""
    return {cli_name(op): op for names in OPERATIONS.values() for op in names}


def shape(name: str) -> dict[str, Any]:
    return extract()["shapes"][name]


def input_shape(operation: str) -> dict[str, Any]:
    return shape(extract()["operations"][operation]["input"])
