"""The Docker label keys on everything the daemon starts.

Labels are the daemon's memory across restarts: a new daemon rebuilds every instance it owns from
them, so a key written by one version must be read back by the next under the same name. The tests
filter containers by the same keys, which is why they are constants and not inline strings.
"""

from __future__ import annotations

MANAGED = "inferpipe"  # "1" on everything inferpipe started, whatever the home
HOME = "inferpipe.home"  # the home's id: two homes on one engine never adopt each other's containers
OWNER_KIND = "inferpipe.owner-kind"  # endpoint or transform job
OWNER = "inferpipe.owner"  # the endpoint's or the job's name
VARIANT = "inferpipe.variant"
GENERATION = "inferpipe.generation"  # blue and green fleets of one variant differ here
INSTANCE = "inferpipe.instance"
ROLE = "inferpipe.role"  # "pod" (holds the network namespace) or "container"
CONTAINER_HOSTNAME = "inferpipe.container-hostname"
CONTAINER_INDEX = "inferpipe.container-index"
PORT = "inferpipe.port"
POD = "inferpipe.pod"  # a container's pod id
MODEL_DATA = "inferpipe.model-data"  # the model-data cache entry it mounts, "" for none

ROLE_POD = "pod"
ROLE_CONTAINER = "container"
