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

read -r URL REGION < <(inferpipe daemon env --output json \
  | "$PYTHON" -c 'import json, sys; d = json.load(sys.stdin); print(d["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"], d["AWS_REGION"])')
cat <<MSG

The endpoint "wine" keeps running (2 instances x 3 containers: docker ps --filter label=inferpipe).
The daemon answers only requests signed with its own credentials; \`inferpipe daemon env\` exports them
(with its endpoint and region) for boto3, the AWS CLI and curl:
  env:    eval "\$(inferpipe daemon env)"
  curl:   curl -s --aws-sigv4 "aws:amz:$REGION:sagemaker" --user "\$AWS_ACCESS_KEY_ID:\$AWS_SECRET_ACCESS_KEY" \\
            -X POST $URL/endpoints/wine/invocations -H 'Content-Type: text/csv' \\
            -H 'Accept: application/json' --data-binary @<(head -2 ${ROWS#"$ROOT"/})
  boto3:  boto3.client("sagemaker-runtime").invoke_endpoint(EndpointName="wine",
            ContentType="text/csv", Body=open("${ROWS#"$ROOT"/}").readline())
  more:   source .venv/bin/activate; inferpipe describe-endpoint --endpoint-name wine
  update: make demo-update   (version 2, canary blue/green guarded by a 5xx alarm, shown live)
  delete: inferpipe delete-endpoint --endpoint-name wine --wait
MSG
