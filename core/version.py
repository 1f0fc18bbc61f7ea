"""The one place the version lives (the distribution metadata is the source)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("inferpipe")
except PackageNotFoundError:  # running from a source tree
    VERSION = "0.0.0+source"
