"""What an ml.* instance type means locally: the memory and process limits of its containers.
Design notes: docs/serving.md."""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024**3
MIN_CONTAINER_MEMORY = 64 * 1024**2
# The holder container of an instance runs a shell and sleep.
POD_MEMORY = 32 * 1024**2
POD_PIDS = 32

_VCPUS = {
    "medium": 2,
    "large": 2,
    "xlarge": 4,
    "2xlarge": 8,
    "3xlarge": 12,
    "4xlarge": 16,
    "6xlarge": 24,
    "8xlarge": 32,
    "9xlarge": 36,
    "10xlarge": 40,
    "12xlarge": 48,
    "16xlarge": 64,
    "18xlarge": 72,
    "24xlarge": 96,
    "32xlarge": 128,
    "48xlarge": 192,
}
# GiB of memory per vCPU, by family: general purpose 4, compute optimised 2, memory optimised 8.
_GIB_PER_VCPU = {
    **dict.fromkeys(("t2", "t3", "m4", "m5", "m5d", "m6g", "m6i", "m7i", "g4dn", "g5", "g6", "inf2", "trn1"), 4.0),
    **dict.fromkeys(("c5", "c5d", "c6g", "c6i", "c7i", "inf1"), 2.0),
    **dict.fromkeys(("r5", "r5d", "r6g", "r6i", "r7i", "g6e"), 8.0),
}
# Types that do not follow their family's ratio, in GiB.
_EXCEPTIONS = {
    "ml.t2.medium": 4.0,
    "ml.t3.medium": 4.0,
    "ml.c4.large": 3.75,
    "ml.c4.xlarge": 7.5,
    "ml.c4.2xlarge": 15.0,
    "ml.c4.4xlarge": 30.0,
    "ml.c4.8xlarge": 60.0,
    "ml.p2.xlarge": 61.0,
    "ml.p2.8xlarge": 488.0,
    "ml.p2.16xlarge": 732.0,
    "ml.p3.2xlarge": 61.0,
    "ml.p3.8xlarge": 244.0,
    "ml.p3.16xlarge": 488.0,
    "ml.p3dn.24xlarge": 768.0,
    "ml.p4d.24xlarge": 1152.0,
    "ml.p5.48xlarge": 2048.0,
}


def instance_memory(instance_type: str | None) -> int | None:
    """Bytes of memory of an ml.* instance type; None for a type this table does not know."""
    if not instance_type:
        return None
    if instance_type in _EXCEPTIONS:
        return int(_EXCEPTIONS[instance_type] * GIB)
    parts = instance_type.split(".")
    if len(parts) != 3 or parts[0] != "ml":
        return None
    ratio = _GIB_PER_VCPU.get(parts[1])
    vcpus = _VCPUS.get(parts[2])
    if ratio is None or vcpus is None:
        return None
    return int(ratio * vcpus * GIB)


@dataclass(frozen=True)
class ContainerLimits:
    memory: int  # bytes, for each container of the chain
    pids: int  # for each container of the chain


def container_limits(
    instance_type: str | None,
    containers: int,
    host_memory: int | None,
    explicit_memory: int | None,
    pids: int,
) -> ContainerLimits:
    """The limits of each container of an instance. An unknown instance type (or none, as for a
    serverless variant) gets the whole host's memory."""
    if explicit_memory:
        return ContainerLimits(max(explicit_memory, MIN_CONTAINER_MEMORY), pids)
    memory = instance_memory(instance_type) or host_memory
    if memory is None:
        return ContainerLimits(0, pids)  # neither known: memory unlimited, processes still bounded
    if host_memory:
        memory = min(memory, host_memory)
    return ContainerLimits(max(memory // max(containers, 1), MIN_CONTAINER_MEMORY), pids)
