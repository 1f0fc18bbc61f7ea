"""What every command shares: how to reach the daemon and how to print."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

from inferpipe.cli import aws_args
from inferpipe.cli.client import ApiClient, start_daemon
from inferpipe.core.config import Settings

from . import pagination


@dataclass
class Ctx:
    output: str | None = None  # one of formats.FORMATS; None = json unless stdout is a terminal
    query: str | None = None
    endpoint_url: str | None = None
    aws: aws_args.Parsed | None = None  # the line's AWS CLI member flags (cli/main.py)
    paging: pagination.Paging = field(default_factory=pagination.Paging)
    _settings: Settings | None = None
    _client: ApiClient | None = None

    @property
    def settings(self) -> Settings:
        """Read on first use, not at import: a bad INFERPIPE_* value then fails the command that needs
        it with one line (cli/main.py), and commands that do not need it still work."""
        if self._settings is None:
            self._settings = Settings.from_env()
        return self._settings

    @property
    def as_json(self) -> bool:
        """Print the API's data in an AWS CLI format (json, text, table, yaml...), not a rich view:
        when one is asked for, and always when stdout is not a terminal."""
        if self.output:
            return True
        return not sys.stdout.isatty()

    @property
    def has_client(self) -> bool:
        return self._client is not None

    def paginated(self, operation: str, request: dict[str, Any]) -> dict[str, Any] | pagination.Pages:
        """Call a list operation, every page of it as the AWS CLI would (see pagination.py)."""
        client = self.client()
        return pagination.call(lambda req: client.call(operation, req), operation, request, self.paging)

    def client(self) -> ApiClient:
        """The daemon this command talks to, started in the background when none answers
        (unless --endpoint-url / INFERPIPE_URL names a specific one)."""
        if self._client is None:
            url = self.endpoint_url or os.environ.get("INFERPIPE_URL")
            if not url:
                start_daemon(self.settings)
                url = self.settings.url
            self._client = ApiClient(url, home=self.settings.home)
        return self._client


STATE = Ctx()


def request(operation: str) -> dict[str, Any]:
    """The members of `operation` given on the command line (flags, --cli-input-json/yaml): where
    every command starts its request before adding inferpipe's extras (-f, --container...)."""
    parsed = STATE.aws
    return dict(parsed.request) if parsed is not None and parsed.operation == operation else {}


def _skeleton_or_checked(operation: str, req: dict[str, Any]) -> dict[str, Any] | None:
    """Checks `req` on the client as the AWS CLI does (required members, then botocore's
    validator); with `--generate-cli-skeleton output`, the output skeleton to print instead of
    calling."""
    aws_args.check_required(operation, req)
    aws_args.validate(operation, req)
    if STATE.aws is not None and STATE.aws.skeleton == "output":
        return aws_args.skeleton(operation, "output")
    return None


def send(operation: str, req: dict[str, Any]) -> dict[str, Any]:
    """Checks `req` on the client, then calls `operation` once (or returns the output skeleton)."""
    skeleton = _skeleton_or_checked(operation, req)
    if skeleton is not None:
        return skeleton
    if STATE.paging.used or not STATE.paging.paginate:
        raise pagination.PaginationError(f"{operation} is not paginated: its command takes no paging options")
    return STATE.client().call(operation, req)


def send_list(operation: str, req: dict[str, Any]) -> dict[str, Any] | pagination.Pages:
    """Checks `req` on the client, then calls a list operation, every page of it unless the paging
    options say otherwise (pagination.py), as the AWS CLI does."""
    skeleton = _skeleton_or_checked(operation, req)
    if skeleton is not None:
        return skeleton
    return STATE.paginated(operation, req)
