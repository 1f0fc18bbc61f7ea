#!/usr/bin/env bash
# Build the wine sample pipeline: model artifacts and the three container images.
#
#   sample-pipelines/wine/build.sh [--version 1|2|all] [--force]
#
# 1. scripts/ensure-docker.sh     a Docker engine answers
# 2. scripts/base-image.sh        a Python 3.11 base image (python:3.11-slim or inferpipe/base:bookworm)
# 3. train.py with $PYTHON        artifacts/v<N>/{featurizer,model,postprocessor}/model.tar.gz, heldout*.csv
#                                 (skipped when the artifacts exist for the same train.py + requirements)
# 4. scripts/wheels.sh + docker build, only for images whose content hash label is stale:
#      inferpipe-sample/wine-{featurizer,model,postprocessor}:1
#
# The content hash (label inferpipe.content-hash) covers the Dockerfile, .dockerignore, serving code,
# the container's serve.py, requirements.txt and the base image id. The model tarballs are not baked
# into the images: the runtime mounts them at /opt/ml/model.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PYTHON=${PYTHON:-python3}
ROLES=(featurizer model postprocessor)
IMAGE_PREFIX=inferpipe-sample/wine
TAG=1
VERSIONS=(1)
FORCE=0

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --version) VERSIONS=("${2:?--version needs 1, 2 or all}"); shift 2 ;;
        --version=*) VERSIONS=("${1#*=}"); shift ;;
        --force) FORCE=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "build.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
if [[ ${VERSIONS[0]} == all ]]; then VERSIONS=(1 2); fi
for v in "${VERSIONS[@]}"; do
    [[ $v == 1 || $v == 2 ]] || { echo "build.sh: --version must be 1, 2 or all (got $v)" >&2; exit 2; }
done

now() { date +%s%N; }
T0=$(now)
say() { printf 'build.sh: %s\n' "$*"; }
elapsed() { local ms=$((($(now) - $1) / 1000000)); printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100)); }
sha() { sha256sum | cut -d' ' -f1; }

# 1. Docker engine.
bash "$ROOT/scripts/ensure-docker.sh"

# 2. Base image.
BASE_IMAGE=$(bash "$ROOT/scripts/base-image.sh" | tail -n 1)
BASE_ID=$(docker image inspect --format '{{.Id}}' "$BASE_IMAGE")
say "base image $BASE_IMAGE ($BASE_ID)"

# 3. Train (host python; needs requirements.txt installed so that the pickles match the images).
check_python() {
    "$PYTHON" - "$HERE/requirements.txt" <<'PY'
import re, sys
from importlib.metadata import PackageNotFoundError, version
bad = []
for line in open(sys.argv[1]):
    m = re.match(r"\s*([A-Za-z0-9_.-]+)==([^\s;#]+)", line)
    if not m:
        continue
    name, want = m.groups()
    try:
        have = version(name)
    except PackageNotFoundError:
        have = None
    if have != want:
        bad.append(f"{name}=={want} (found {have or 'nothing'})")
if bad:
    print(", ".join(bad))
    sys.exit(1)
PY
}
TRAIN_HASH=$(cat "$HERE/train.py" "$HERE/requirements.txt" | sha)
for v in "${VERSIONS[@]}"; do
    out=$HERE/artifacts/v$v
    stamp=$out/.train-hash
    if [[ $FORCE == 0 && -f $stamp && $(cat "$stamp") == "$TRAIN_HASH" \
        && -f $out/featurizer/model.tar.gz && -f $out/model/model.tar.gz \
        && -f $out/postprocessor/model.tar.gz && -f $out/heldout.csv ]]; then
        say "artifacts v$v up to date ($out)"
        continue
    fi
    if ! missing=$(check_python 2>&1); then
        echo "build.sh: the host python '$PYTHON' lacks the pinned training requirements: $missing" >&2
        echo "build.sh: install them with: $PYTHON -m pip install -r $HERE/requirements.txt" >&2
        echo "build.sh: (or point PYTHON at an interpreter that has them)" >&2
        exit 1
    fi
    t=$(now)
    "$PYTHON" "$HERE/train.py" --version "$v" --out "$out"
    echo "$TRAIN_HASH" >"$stamp"
    say "trained v$v in $(elapsed "$t")"
done

# 4. Images, cached by content hash.
COMMON_HASH=$(
    {
        echo "base=$BASE_ID"
        cat "$HERE/requirements.txt" "$HERE/.dockerignore" "$HERE/serving/sagemaker_serving.py"
    } | sha
)
declare -A WANT
TODO=()
for role in "${ROLES[@]}"; do
    image=$IMAGE_PREFIX-$role:$TAG
    WANT[$role]=$( { echo "$COMMON_HASH"; cat "$HERE/$role/Dockerfile" "$HERE/$role/serve.py"; } | sha)
    have=$(docker image inspect --format '{{ index .Config.Labels "inferpipe.content-hash" }}' "$image" \
        2>/dev/null || true)
    if [[ $FORCE == 0 && $have == "${WANT[$role]}" ]]; then
        say "image $image up to date (content hash ${WANT[$role]:0:12})"
    else
        TODO+=("$role")
    fi
done

if [[ ${#TODO[@]} -gt 0 ]]; then
    bash "$ROOT/scripts/wheels.sh" "$HERE/.build/wheels" "$HERE/requirements.txt"
    mkdir -p "$HERE/.build"
    for role in "${TODO[@]}"; do
        image=$IMAGE_PREFIX-$role:$TAG
        logfile=$HERE/.build/docker-build-$role.log
        t=$(now)
        previous=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
        if ! docker build --force-rm -f "$HERE/$role/Dockerfile" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
            --label "inferpipe.content-hash=${WANT[$role]}" --label "inferpipe.sample=wine" \
            --label "inferpipe.role=$role" -t "$image" "$HERE" >"$logfile" 2>&1; then
            tail -n 40 "$logfile" >&2
            echo "build.sh: docker build of $image failed (full log: $logfile)" >&2
            exit 1
        fi
        size=$(docker image inspect --format '{{.Size}}' "$image")
        # Drop the image this build replaced, if nothing else names it (no broad prune).
        if [[ -n $previous && $previous != $(docker image inspect --format '{{.Id}}' "$image") \
            && -z $(docker image inspect --format '{{join .RepoTags ""}}' "$previous" 2>/dev/null) ]]; then
            docker image rm "$previous" >/dev/null 2>&1 || true
        fi
        say "built $image in $(elapsed "$t") ($((size / 1000000)) MB)"
    done
fi

say "done in $(elapsed "$T0"): images ${ROLES[*]/#/$IMAGE_PREFIX-} (tag :$TAG), artifacts ${VERSIONS[*]/#/v}"
