"""The Typer command class of the `aws sagemaker` commands: its help lists every member flag of
the operation's input shape (from botocore's model), after inferpipe's own options.

The flags themselves are parsed before Typer runs (aws_args.split, from cli/main.py): a list
member takes any number of values, which click options cannot. So they are listed in the help's
epilog rather than declared as options; the model is read only when the help is shown.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand

from . import service_model

SHARED = (
    ("--cli-input-json", "The whole request as JSON (inline or file://); flags on the line win."),
    ("--cli-input-yaml", "The whole request as YAML (inline or file://); flags on the line win."),
    ("--generate-cli-skeleton", "[input|yaml-input|output] Print a request template or a sample response."),
)


class AwsCommand(TyperCommand):
    @property
    def epilog(self) -> str | None:
        operation = service_model.command_operations().get(self.name or "")
        if operation is None:
            return self._examples
        return f"{self._examples or ''}\n\n{parameters_help(operation)}"

    @epilog.setter
    def epilog(self, value: str | None) -> None:
        self._examples = value


def parameters_help(operation: str) -> str:
    """A Markdown list of the operation's member flags (the help is rendered as Markdown)."""
    ext = service_model.extract()
    top = service_model.input_shape(operation)
    required = set(top.get("required", []))
    lines = [f"**AWS CLI parameters** (`{operation}`'s input, from botocore's model):", ""]
    for member, ref in top.get("members", {}).items():
        shape: dict[str, Any] = ext["shapes"][ref["shape"]]
        flag = "--" + service_model.cli_name(member)
        if shape["type"] == "boolean":
            flag = f"{flag} | --no-{service_model.cli_name(member)}"
        kind = {"structure": "shorthand or JSON", "map": "shorthand or JSON", "list": "list"}.get(
            shape["type"], shape["type"]
        )
        text = f"- `{flag}` ({kind}{', required' if member in required else ''})"
        if ref.get("doc"):
            text += f": {ref['doc']}"
        if shape.get("enum"):
            text += f" One of: {', '.join(shape['enum'])}."
        lines.append(text)
    lines.extend(f"- `{flag}`: {doc}" for flag, doc in SHARED)
    return "\n".join(lines)
