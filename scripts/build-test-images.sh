#!/usr/bin/env bash
# Build the images the end-to-end tests use, once: each is labelled with a hash of its inputs
# and rebuilt only when they change.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-docker.sh >&2
BASE=$(bash scripts/base-image.sh | tail -n 1)
ctx=tests/images/echo

build() {  # build TAG DOCKERFILE BASE
    local tag=$1 dockerfile=$2 base=$3 hash current
    hash=$( (cat "$ctx/server.py" "$dockerfile"; docker image inspect -f '{{.Id}}' "$base") | sha256sum | cut -c1-32)
    current=$(docker image inspect -f '{{index .Config.Labels "inferpipe.content-hash"}}' "$tag" 2>/dev/null || true)
    if [[ $current == "$hash" ]]; then
        echo "test image $tag is up to date" >&2
        return
    fi
    echo "building $tag" >&2
    docker build -q -t "$tag" -f "$dockerfile" --build-arg "BASE_IMAGE=$base" --label "inferpipe.content-hash=$hash" "$ctx" >&2
}

build inferpipe-test/echo:1 "$ctx/Dockerfile" "$BASE"
build inferpipe-test/echo-nolabel:1 "$ctx/Dockerfile.nolabel" inferpipe-test/echo:1
build inferpipe-test/echo-sigterm:1 "$ctx/Dockerfile.sigterm" inferpipe-test/echo:1
