"""Waiter failures in the AWS CLI's words (`Waiter EndpointInService failed: ...`, exit 255)."""

from __future__ import annotations


class WaiterError(Exception):
    def __init__(self, name: str, reason: str, failure_reason: str | None = None) -> None:
        self.name = name
        self.reason = reason
        self.failure_reason = failure_reason  # the resource's FailureReason, shown after the AWS line
        super().__init__(f"Waiter {name} failed: {reason}")
