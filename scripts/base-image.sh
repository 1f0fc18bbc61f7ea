#!/usr/bin/env bash
# Print (last line of stdout) the name of a usable Python 3.11 base image, making sure it exists.
#
# Order: $BASE_IMAGE if present locally; python:3.11-slim if present locally; a short
# `docker pull python:3.11-slim`; else build inferpipe/base:bookworm from Debian's apt archive with
# debootstrap (cached: reused when the image already exists). Logs go to stderr only.
set -euo pipefail

say() { echo "base-image: $*" >&2; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

LOCAL_IMAGE=inferpipe/base:bookworm
UPSTREAM_IMAGE=python:3.11-slim

if [[ -n ${BASE_IMAGE:-} ]]; then
    if have_image "$BASE_IMAGE"; then
        say "using \$BASE_IMAGE=$BASE_IMAGE"
        echo "$BASE_IMAGE"
        exit 0
    fi
    say "\$BASE_IMAGE=$BASE_IMAGE is not present locally; falling back"
fi

if have_image "$UPSTREAM_IMAGE"; then
    say "using local $UPSTREAM_IMAGE"
    echo "$UPSTREAM_IMAGE"
    exit 0
fi

# A previously built fallback is reused before trying the registry, so that cached runs never wait
# on a pull that cannot work here.
if have_image "$LOCAL_IMAGE"; then
    say "using cached $LOCAL_IMAGE"
    echo "$LOCAL_IMAGE"
    exit 0
fi

say "trying: docker pull $UPSTREAM_IMAGE (20 s)"
if timeout 20 docker pull -q "$UPSTREAM_IMAGE" >&2 2>&1 && have_image "$UPSTREAM_IMAGE"; then
    echo "$UPSTREAM_IMAGE"
    exit 0
fi
say "pull failed (no registry reachable); building $LOCAL_IMAGE with debootstrap"

if [[ $(id -u) -ne 0 ]]; then
    say "building $LOCAL_IMAGE needs root (debootstrap); run as root or set BASE_IMAGE to a local image"
    exit 1
fi

# One builder at a time: a concurrent caller waits here, then finds the image built.
exec 9>/run/lock/inferpipe-base-image.lock 2>/dev/null || exec 9>/tmp/inferpipe-base-image.lock
flock 9
if have_image "$LOCAL_IMAGE"; then
    say "$LOCAL_IMAGE was built meanwhile"
    echo "$LOCAL_IMAGE"
    exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap with apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq debootstrap >&2 2>&1 || { apt-get update -qq >&2 && apt-get install -y -qq debootstrap >&2 2>&1; }
fi

# The mirror of the bookworm suite, from the deb822 sources file (first URIs: of a stanza whose
# Suites: lists bookworm itself, not only bookworm-updates / bookworm-security).
MIRROR=${DEBIAN_MIRROR:-}
SOURCES=/etc/apt/sources.list.d/debian.sources
if [[ -z $MIRROR && -r $SOURCES ]]; then
    MIRROR=$(awk '
        BEGIN { RS = ""; FS = "\n" }
        {
            uri = ""; ok = 0
            for (i = 1; i <= NF; i++) {
                if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); uri = a[2] }
                if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == "bookworm") ok = 1 }
            }
            if (ok && uri != "") { print uri; exit }
        }' "$SOURCES")
fi
if [[ -z $MIRROR && -r /etc/apt/sources.list ]]; then
    MIRROR=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list)
fi
MIRROR=${MIRROR:-http://deb.debian.org/debian}
say "mirror: $MIRROR"

ROOTFS=$(mktemp -d /tmp/inferpipe-rootfs.XXXXXX)
cleanup() { rm -rf --one-file-system "$ROOTFS"; }
trap cleanup EXIT

start=$SECONDS
debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$ROOTFS" "$MIRROR" >&2
# Keep the image small: no apt lists, caches, docs or man pages (python3 and its stdlib stay).
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
    "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
    "$ROOTFS"/var/log/*.log "$ROOTFS"/var/cache/debconf/*-old
"$ROOTFS"/usr/bin/python3 --version >&2 2>&1 || chroot "$ROOTFS" python3 --version >&2
tar -C "$ROOTFS" --numeric-owner -c . | docker import \
    -c 'ENV LANG=C.UTF-8 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1' \
    -c 'CMD ["python3"]' \
    -m "inferpipe: debootstrap --variant=minbase --include=python3,ca-certificates bookworm $MIRROR" \
    - "$LOCAL_IMAGE" >&2
say "built $LOCAL_IMAGE in $((SECONDS - start)) s"
echo "$LOCAL_IMAGE"
