#!/usr/bin/env bash
# The README's main job: build the wine pipeline (images + model artifacts, cached), deploy it as an
# endpoint with 2 instances, invoke it with held-out rows, and leave it running.
#
#   sample-pipelines/wine/demo.sh            deploy (or keep) version 1 and invoke it
#   sample-pipelines/wine/demo.sh --update   roll out version 2 blue/green (canary), watched live
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
SPEC=$HERE/pipeline.yaml
VERSION=1
if [[ ${1:-} == --update ]]; then SPEC=$HERE/pipeline-v2.yaml; VERSION=2; fi

bash "$HERE/build.sh" --version all

echo
echo "== inferpipe apply -f ${SPEC#"$ROOT"/}"
inferpipe apply -f "$SPEC" --output table

echo
echo "== predictions for 8 held-out rows (true label | predicted label, class, probability)"
ROWS=$HERE/artifacts/v$VERSION/heldout.csv
LABELS=$HERE/artifacts/v$VERSION/heldout_labels.csv
head -8 "$ROWS" | inferpipe invoke wine --content-type text/csv --accept text/csv > /tmp/inferpipe-demo.out
paste -d'|' <(head -8 "$LABELS") /tmp/inferpipe-demo.out | sed 's/|/  |  /'

PORT=${INFERPIPE_PORT:-8765}
cat <<MSG

The endpoint "wine" keeps running (2 instances x 3 containers: docker ps --filter label=inferpipe).
  curl:   curl -s -X POST http://127.0.0.1:$PORT/endpoints/wine/invocations -H 'Content-Type: text/csv' \\
            -H 'Accept: application/json' --data-binary @<(head -2 ${ROWS#"$ROOT"/})
  boto3:  boto3.client("sagemaker-runtime", endpoint_url="http://127.0.0.1:$PORT", region_name="us-east-1",
            aws_access_key_id="x", aws_secret_access_key="x").invoke_endpoint(EndpointName="wine",
            ContentType="text/csv", Body=open("${ROWS#"$ROOT"/}").readline())
  more:   source .venv/bin/activate; inferpipe describe-endpoint --endpoint-name wine
  update: make demo-update   (version 2, canary blue/green guarded by a 5xx alarm, shown live)
  delete: inferpipe delete-endpoint --endpoint-name wine --wait
MSG
