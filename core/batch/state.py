"""A transform job's engine state, typed: the model snapshot it runs, its times, the last progress
written and the batch settings in effect. Stored as JSON in ``Record.state`` (snake_case keys)
through the one ``to_json`` / ``from_json`` pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

Json = dict[str, Any]


class TransformJobStatus(StrEnum):
    """TransformJobStatus, in the service model's order (ListTransformJobs' StatusEquals checks against it)."""

    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


TERMINAL = frozenset({TransformJobStatus.COMPLETED, TransformJobStatus.FAILED, TransformJobStatus.STOPPED})
RUNNING = frozenset({TransformJobStatus.IN_PROGRESS, TransformJobStatus.STOPPING})


@dataclass
class TransformJobState:
    model: Json  # the model spec snapshot, taken when the job was created
    start_time: float
    end_time: float | None = None
    progress: Json | None = None  # InferpipeProgress as last written
    effective: Json | None = None  # InferpipeExecutionParameters: the batch settings in effect

    def to_json(self) -> Json:
        doc: Json = {"model": self.model, "start_time": self.start_time}
        for key in ("end_time", "progress", "effective"):
            if getattr(self, key) is not None:
                doc[key] = getattr(self, key)
        return doc

    @classmethod
    def from_json(cls, doc: Json) -> TransformJobState:
        return cls(
            model=doc["model"],
            start_time=float(doc["start_time"]),
            end_time=None if doc.get("end_time") is None else float(doc["end_time"]),
            progress=doc.get("progress"),
            effective=doc.get("effective"),
        )
