"""Member constraints of SageMaker requests, compiled from botocore's copy of the service model.

Every supported operation's input shape is walked once, on first use, into plain closures (the
model is loaded once per process), so a request costs a dictionary walk, not a model load. What
they report is exactly the front end's first layer: required members, types, lengths, ranges,
patterns and enums, in the ``Checker`` wording. The service's own rules (cross-field checks,
what inferpipe does not support) stay hand-written next to each resource.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from botocore.loaders import Loader
from botocore.model import ServiceModel, Shape, StructureShape

from inferpipe.core.api.unicode_pattern import unicode_class_matcher
from inferpipe.core.api.validation import INT_MAX, INT_MIN, SPECIAL_FLOATS, TAG_PATTERN, Checker, camel, tag_text_ok

# The service prints some patterns as its own model spells them; botocore's published copy drops
# the anchors and simplifies escapes. Messages boto3 users see keep the service's spelling.
SERVICE_SPELLING = {
    r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}": r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
    r"[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?": r"^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?",
    r"arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+": (
        r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$"
    ),
    r"[a-zA-Z0-9-]+": r"[a-zA-Z0-9\-]+",
    r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]*:[0-9]{12}:.+": r"arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:.+",
}

# Members where inferpipe deliberately accepts more than S3: data lives on this machine, so a local
# path (or file:// URL) stands in for an S3 URI. Lengths still apply; the resource module checks
# the value's form (ModelDataUrl) or where it points (transform inputs and outputs).
LOCAL_PATH_MEMBERS = frozenset(
    {
        ("ContainerDefinition", "ModelDataUrl"),
        ("ModelPackageContainerDefinition", "ModelDataUrl"),
        ("TransformS3DataSource", "S3Uri"),
        ("TransformOutput", "S3OutputPath"),
        ("BatchDataCaptureConfig", "DestinationS3Uri"),
        ("DataCaptureConfig", "DestinationS3Uri"),
    }
)

Check = Callable[[Checker, Any, str], None]
Problems = Callable[[Any], list[str]]

NOT_NULL = "Member must not be null"


@functools.cache
def service_model() -> ServiceModel:
    """botocore's SageMaker model, loaded once per process (about half a second)."""
    return ServiceModel(Loader().load_service_model("sagemaker", "service-2"), service_name="sagemaker")


def enum_of(shape_name: str) -> tuple[str, ...]:
    return tuple(service_model().shape_for(shape_name).enum)


def check_request(operation: str, request: Mapping[str, Any], c: Checker) -> None:
    """Adds every member-constraint violation of ``request`` (``operation``'s input) to ``c``."""
    _compiler().operation(operation)(c, request, "")


def validate_request(operation: str, request: Mapping[str, Any]) -> None:
    c = Checker()
    check_request(operation, request, c)
    c.raise_if_any()


def check_member(shape_name: str, value: Any, path: str, c: Checker) -> None:
    """One value against a named shape of the model (for members of inferpipe's own extensions that
    reuse a SageMaker type, as an endpoint name)."""
    _compiler().shape(shape_name)(c, value, path)


def compiled_shapes() -> frozenset[str]:
    """The shapes compiled so far (the coverage test compares them with the model's)."""
    return frozenset(name for name, _ in _compiler().checks)


@functools.cache
def _compiler() -> _Compiler:
    return _Compiler(service_model())


def _join(path: str, name: str) -> str:
    return f"{path}.{camel(name)}" if path else camel(name)


class _Compiler:
    def __init__(self, model: ServiceModel) -> None:
        self.model = model
        self.checks: dict[tuple[str, bool], Check] = {}
        self.ops: dict[str, Check] = {}

    def operation(self, name: str) -> Check:
        check = self.ops.get(name)
        if check is None:
            shape = self.model.operation_model(name).input_shape
            check = self.ops[name] = self._compile(shape) if shape is not None else _nothing
        return check

    def shape(self, name: str) -> Check:
        return self._compile(self.model.shape_for(name))

    def _compile(self, shape: Shape, local_path: bool = False) -> Check:
        key = (shape.name, local_path)
        check = self.checks.get(key)
        if check is None:
            # Recursive shapes: a forward reference, resolved when called.
            self.checks[key] = lambda c, v, p: self.checks[key](c, v, p)
            check = self.checks[key] = self._build(shape, local_path)
        return check

    def _build(self, shape: Shape, local_path: bool) -> Check:
        kind = shape.type_name
        if kind == "structure":
            assert isinstance(shape, StructureShape)
            return self._structure(shape)
        if kind == "list":
            return self._list(shape)
        if kind == "map":
            return self._map(shape)
        problems = self._scalar(shape, local_path)

        def check(c: Checker, value: Any, path: str) -> None:
            if value is not None:
                for problem in problems(value):
                    c.fail(value, path, problem)

        return check

    def _structure(self, shape: StructureShape) -> Check:
        if shape.metadata.get("document"):
            return _nothing
        required = set(shape.required_members)
        members = [
            (name, name in required, self._compile(member, (shape.name, name) in LOCAL_PATH_MEMBERS))
            for name, member in shape.members.items()
        ]

        def check(c: Checker, value: Any, path: str) -> None:
            if value is None:
                return
            if not isinstance(value, Mapping):
                c.fail(value, path, "Member must be a structure")
                return
            for name, needed, member_check in members:
                item = value.get(name)
                if item is None:
                    if needed:
                        c.errors.append(f"Value null at '{_join(path, name)}' failed to satisfy constraint: {NOT_NULL}")
                    continue
                member_check(c, item, _join(path, name))

        return check

    def _list(self, shape: Any) -> Check:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        member_check = self._compile(shape.member)

        def check(c: Checker, value: Any, path: str) -> None:
            if value is None:
                return
            if not isinstance(value, list):
                c.fail(value, path, "Member must be a list")
                return
            too_many = high is not None and len(value) > high
            if too_many:
                c.fail(value, path, f"Member must have length less than or equal to {high}")
            if low is not None and len(value) < low:
                c.fail(value, path, f"Member must have length greater than or equal to {low}")
            if too_many:
                return  # one violation for an overlong list, not one more per member
            for i, item in enumerate(value, 1):
                if item is not None:  # a null list member is refused while the body is decoded
                    member_check(c, item, f"{path}.{i}.member")

        return check

    def _map(self, shape: Any) -> Check:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        key_problems = self._scalar(shape.key, False)
        scalar_values = shape.value.type_name not in ("structure", "list", "map")
        value_problems = self._scalar(shape.value, False) if scalar_values else None
        value_check = None if scalar_values else self._compile(shape.value)

        def check(c: Checker, value: Any, path: str) -> None:
            if value is None:
                return
            if not isinstance(value, Mapping):
                c.fail(value, path, "Member must be a map")
                return
            if high is not None and len(value) > high:
                c.fail(value, path, f"Member must have length less than or equal to {high}")
            if low is not None and len(value) < low:
                c.fail(value, path, f"Member must have length greater than or equal to {low}")
            # As the service does for maps: one violation for its keys and one for its values, each
            # listing the constraints some key (value) breaks, with the whole map as the value.
            keys: list[str] = []
            values: list[str] = []
            for key, item in value.items():
                _extend(keys, key_problems(key))
                if item is None:
                    _extend(values, [NOT_NULL])
                elif value_problems is not None:
                    _extend(values, value_problems(item))
                elif value_check is not None:
                    value_check(c, item, f"{path}.{key}")
            if keys:
                c.fail(value, path, f"Map keys must satisfy constraint: [{', '.join(keys)}]")
            if values:
                c.fail(value, path, f"Map value must satisfy constraint: [{', '.join(values)}]")

        return check

    def _scalar(self, shape: Shape, local_path: bool) -> Problems:
        kind = shape.type_name
        meta = shape.metadata
        if kind == "string":
            return _string(meta, local_path)
        if kind in ("integer", "long"):
            floor, ceiling = (INT_MIN, INT_MAX) if kind == "integer" else (-(2**63), 2**63 - 1)
            low, high = max(meta.get("min", floor), floor), min(meta.get("max", ceiling), ceiling)
            return _integer(low, high)
        if kind in ("float", "double"):
            return _number(meta.get("min"), meta.get("max"))
        if kind == "boolean":
            return lambda v: [] if isinstance(v, bool) else ["Member must be a boolean"]
        if kind == "timestamp":
            return lambda v: (
                [] if isinstance(v, (int, float, str)) and not isinstance(v, bool) else ["Member must be a timestamp"]
            )
        if kind == "blob":
            return lambda v: [] if isinstance(v, (str, bytes)) else ["Member must be a blob"]
        raise TypeError(f"shape {shape.name} has a type the validator does not know: {kind}")


def _nothing(c: Checker, value: Any, path: str) -> None:
    return None


def _extend(items: list[str], new: list[str]) -> None:
    for item in new:
        if item not in items:
            items.append(item)


def _string(meta: Mapping[str, Any], local_path: bool) -> Problems:
    low, high = meta.get("min"), meta.get("max")
    enum = meta.get("enum")
    allowed = frozenset(enum) if enum else None
    enum_text = f"Member must satisfy enum value set: [{', '.join(enum)}]" if enum else ""
    pattern = None if local_path else meta.get("pattern")
    matches: Callable[[str], bool] | None = None
    pattern_text = ""
    if pattern is not None:
        pattern_text = f"Member must satisfy regular expression pattern: {SERVICE_SPELLING.get(pattern, pattern)}"
        # The service applies a pattern to the whole value; the tag pattern uses Java's \p{...}
        # classes, which Python's re lacks.
        matches = (
            tag_text_ok if pattern == TAG_PATTERN else unicode_class_matcher(pattern) or re.compile(pattern).fullmatch
        )

    def problems(value: Any) -> list[str]:
        if not isinstance(value, str):
            return ["Member must be a string"]
        out = []
        if high is not None and len(value) > high:
            out.append(f"Member must have length less than or equal to {high}")
        if low is not None and len(value) < low:
            out.append(f"Member must have length greater than or equal to {low}")
        if matches is not None and not matches(value):
            out.append(pattern_text)
        if allowed is not None and value not in allowed:
            out.append(enum_text)
        return out

    return problems


def _integer(low: int, high: int) -> Problems:
    def problems(value: Any) -> list[str]:
        if isinstance(value, bool) or not isinstance(value, int):
            return ["Member must be an integer"]
        # Integer members are 32-bit on the service; a larger number is refused, not carried along.
        if value < low:
            return [f"Member must have value greater than or equal to {low}"]
        if value > high:
            return [f"Member must have value less than or equal to {high}"]
        return []

    return problems


def _number(low: float | None, high: float | None) -> Problems:
    def problems(value: Any) -> list[str]:
        if value in SPECIAL_FLOATS:
            # botocore sends a NaN or infinite float as these strings (the JSON protocols' encoding)
            return ["Member must be a finite number"]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return ["Member must be a number"]
        if low is not None and value < low:
            return [f"Member must have value greater than or equal to {low}"]
        if high is not None and value > high:
            return [f"Member must have value less than or equal to {high}"]
        return []

    return problems
