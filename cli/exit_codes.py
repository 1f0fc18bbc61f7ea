"""The AWS CLI v2's exit codes, which inferpipe's commands return too (README: Exit codes)."""

from __future__ import annotations

OK = 0
USAGE = 252  # the line could not be parsed, or a required member is missing (nothing was called)
CONFIGURATION = 253  # the configuration is wrong: a bad INFERPIPE_* value, an unknown --profile
SERVICE = 254  # the call reached the daemon, which answered with an error
OTHER = 255  # anything else: no daemon answers, a waiter failed, a local file could not be written
