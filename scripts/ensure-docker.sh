#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine. Idempotent.
#
#   - if `docker info` already answers: exit 0, touch nothing;
#   - else, as root on Debian: install docker.io (which provides /usr/bin/dockerd; an existing
#     docker CLI elsewhere on PATH is left alone), start dockerd fully detached (setsid + nohup,
#     logging to /var/log/inferpipe-dockerd.log) and wait up to 60 s for it to answer;
#   - else: say what to start and exit 1.
set -euo pipefail

LOG=/var/log/inferpipe-dockerd.log
WAIT_SECONDS=${INFERPIPE_DOCKERD_WAIT:-60}

say() { echo "ensure-docker: $*" >&2; }

docker_answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && docker_answers; then
    exit 0
fi

if [[ $(id -u) -ne 0 || ! -r /etc/debian_version ]]; then
    say "no Docker engine answers ('docker info' failed) and this is not root on Debian."
    say "Start a Docker engine (e.g. 'sudo systemctl start docker', or Docker Desktop) and retry."
    exit 1
fi

# One installer/starter at a time; a concurrent caller waits, then finds the engine up.
exec 9>/run/lock/inferpipe-ensure-docker.lock 2>/dev/null || exec 9>/tmp/inferpipe-ensure-docker.lock
flock 9
if docker_answers; then
    exit 0
fi

find_dockerd() {
    local p
    for p in /usr/bin/dockerd /usr/sbin/dockerd "$(command -v dockerd 2>/dev/null || true)"; do
        if [[ -n $p && -x $p ]]; then echo "$p"; return 0; fi
    done
    return 1
}

if ! DOCKERD=$(find_dockerd); then
    say "dockerd missing: installing docker.io with apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends docker.io iptables >&2
    DOCKERD=$(find_dockerd) || { say "docker.io installed but no dockerd found"; exit 1; }
fi

if ! command -v docker >/dev/null 2>&1; then
    say "no docker CLI on PATH (docker.io should have provided /usr/bin/docker)"
    exit 1
fi

if pgrep -x dockerd >/dev/null 2>&1; then
    say "a dockerd process exists but does not answer yet; waiting for it"
else
    say "starting $DOCKERD (log: $LOG)"
    # containerd: docker.io's dockerd starts its own managed containerd when none is running.
    setsid nohup "$DOCKERD" >>"$LOG" 2>&1 </dev/null 9>&- &
    disown || true
fi

for ((i = 0; i < WAIT_SECONDS * 2; i++)); do
    if docker_answers; then
        say "Docker engine is up ($(docker info --format '{{.ServerVersion}} storage={{.Driver}}' 2>/dev/null))"
        exit 0
    fi
    sleep 0.5
done

say "dockerd did not answer within ${WAIT_SECONDS}s; last lines of $LOG:"
tail -n 30 "$LOG" >&2 || true
exit 1
