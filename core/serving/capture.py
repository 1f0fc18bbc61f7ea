"""Data capture on the serving path: which requests of a fleet are captured (sampling, CaptureOptions)
and the hand-over to the capture writer. A route carries the capture of the endpoint config its
fleets were started for, so an UpdateEndpoint's new capture config takes effect with the new fleet.
Design notes: docs/data-capture.md."""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from typing import Any

from inferpipe.core.capture.record import CaptureEvent
from inferpipe.core.capture.sink import FileSink
from inferpipe.core.capture.spec import CaptureSpec, DestinationRefused
from inferpipe.core.capture.writer import CaptureTarget, CaptureWriter, WriterLimits
from inferpipe.core.config import Settings
from inferpipe.core.containers.hostpaths import HostPathPolicy
from inferpipe.core.serving.metrics import CAPTURE_DROPPED, CAPTURED, Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class EndpointCapture:
    spec: CaptureSpec
    writer: CaptureWriter
    target: CaptureTarget

    def take(
        self,
        endpoint: str,
        variant: str,
        body: bytes,
        content_type: str | None,
        answer: bytes,
        answer_type: str | None,
        inference_id: str | None,
    ) -> None:
        """Offer one successful invocation to the writer, if sampled. Never raises, never blocks."""
        pct = self.spec.sampling_percentage
        if pct <= 0 or (pct < 100 and random.random() * 100 >= pct):
            return
        try:
            self.writer.offer(
                self.target,
                CaptureEvent(
                    endpoint,
                    variant,
                    body if self.spec.capture_input else None,
                    content_type,
                    answer if self.spec.capture_output else None,
                    answer_type,
                    inference_id,
                ),
            )
        except Exception:  # noqa: BLE001 - capture must never fail a request
            log.exception("capture: could not queue an event of %s/%s", endpoint, variant)


class CaptureFactory:
    """Builds the capture of an endpoint config over the daemon's one writer."""

    def __init__(self, writer: CaptureWriter, policy: HostPathPolicy) -> None:
        self.writer = writer
        self.policy = policy
        # One capture per endpoint and DataCaptureConfig: a route re-installed for the same config
        # (a weights or capacity change, a re-adoption) keeps appending to the same files.
        self._built: dict[tuple[str, str], EndpointCapture | None] = {}

    def for_config(self, endpoint: str, config: dict[str, Any] | None) -> EndpointCapture | None:
        key = (endpoint, json.dumps((config or {}).get("DataCaptureConfig"), sort_keys=True))
        if key not in self._built:
            self._built[key] = self._build(endpoint, config)
        return self._built[key]

    def _build(self, endpoint: str, config: dict[str, Any] | None) -> EndpointCapture | None:
        try:
            spec = CaptureSpec.from_config(config or {}, self.policy)
        except DestinationRefused as exc:
            # Checked when the config was created; only a change of INFERPIPE_ALLOWED_ROOTS since lands here.
            log.warning("endpoint %s: data capture is off: %s", endpoint, exc)
            return None
        if spec is None:
            return None
        target = CaptureTarget(FileSink(spec.destination), spec.encodings)
        return EndpointCapture(spec, self.writer, target)


def capture_writer(settings: Settings, metrics: Metrics) -> CaptureWriter:
    """The daemon's one writer, its records counted per endpoint and variant."""
    return CaptureWriter(
        WriterLimits(settings.capture_buffer_bytes, settings.capture_max_file_bytes, settings.capture_flush_seconds),
        on_written=lambda endpoint, variant, n: metrics.count(CAPTURED, endpoint, variant, n),
        on_dropped=lambda endpoint, variant, n: metrics.count(CAPTURE_DROPPED, endpoint, variant, n),
    )
