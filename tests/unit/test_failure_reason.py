from __future__ import annotations

from inferpipe.core.failure_reason import MAX_FAILURE_REASON, failure_reason


def test_a_short_reason_is_kept_whole_after_its_prefix() -> None:
    assert failure_reason("it broke") == "it broke"
    assert failure_reason("it broke", prefix="ClientError") == "ClientError: it broke"


def test_a_long_reason_is_cut_to_sagemakers_limit_with_a_visible_mark() -> None:
    reason = failure_reason("x" * 5000, prefix="InternalServerError")
    assert len(reason) == MAX_FAILURE_REASON == 1024
    assert reason.startswith("InternalServerError: xxx") and reason.endswith("x...")
    assert failure_reason("y" * 1024) == "y" * 1024
