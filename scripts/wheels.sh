#!/usr/bin/env bash
# wheels.sh DEST REQUIREMENTS_FILE
#
# Put into DEST the cp311 manylinux x86_64 wheels that REQUIREMENTS_FILE needs, plus pip itself (the
# images bootstrap their install with it). Wheels are downloaded once into a host cache
# (${XDG_CACHE_HOME:-$HOME/.cache}/inferpipe/wheels) and hardlinked (or copied) into DEST. When the
# cache already satisfies the requirements, nothing goes online.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 DEST REQUIREMENTS_FILE" >&2
    exit 2
fi
DEST=$1
REQS=$2
[[ -r $REQS ]] || { echo "wheels: cannot read $REQS" >&2; exit 2; }

CACHE=${INFERPIPE_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/inferpipe/wheels}
PY=${PYTHON:-python3}
mkdir -p "$CACHE" "$DEST"

say() { echo "wheels: $*" >&2; }

PLATFORM_ARGS=(
    --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64
)

# Resolve into a scratch dir from the cache (offline) or from the index (online) and copy what was
# resolved into the cache; what pip leaves in the scratch dir is exactly the set DEST needs.
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/inferpipe-wheels.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT

download() {
    "$PY" -m pip download --disable-pip-version-check -q "${PLATFORM_ARGS[@]}" -d "$SCRATCH" "$@" \
        -r "$REQS" pip
}

if download --no-index --find-links "$CACHE" >/dev/null 2>&1; then
    say "cache satisfies $REQS ($CACHE)"
else
    say "downloading wheels for $REQS into $CACHE"
    rm -f "$SCRATCH"/*
    download --find-links "$CACHE" >&2
    cp -n "$SCRATCH"/*.whl "$CACHE"/ 2>/dev/null || true
fi

# DEST holds exactly the resolved wheels: drop stale ones, link the rest.
shopt -s nullglob
for f in "$DEST"/*.whl; do
    [[ -e $SCRATCH/$(basename "$f") ]] || rm -f "$f"
done
n=0
for f in "$SCRATCH"/*.whl; do
    name=$(basename "$f")
    n=$((n + 1))
    if [[ -e $DEST/$name ]] && cmp -s "$f" "$DEST/$name"; then continue; fi
    rm -f "$DEST/$name"
    # Hardlink from the cache when it lives on the same filesystem, else copy.
    ln "$CACHE/$name" "$DEST/$name" 2>/dev/null || cp "$f" "$DEST/$name"
done
say "$n wheels in $DEST"
