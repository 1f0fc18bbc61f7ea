"""What every command shares: how to reach the daemon and how to print."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from inferpipe.core.client import ApiClient, start_daemon
from inferpipe.core.config import Settings


@dataclass
class Ctx:
    output: str | None = None  # json | table; None = json unless stdout is a terminal
    query: str | None = None
    endpoint_url: str | None = None
    settings: Settings = field(default_factory=Settings.from_env)
    _client: ApiClient | None = None

    @property
    def as_json(self) -> bool:
        if self.output:
            return self.output == "json"
        return not sys.stdout.isatty()

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
