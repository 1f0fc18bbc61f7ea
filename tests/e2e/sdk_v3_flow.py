"""The serial inference pipeline through the SageMaker Python SDK v3's ``sagemaker.core`` resources.

Run by tests/e2e/test_sdk_flows.py in the SDK v3's own virtual environment, in a subprocess: its
clients reach the daemon only through the standard AWS environment (AWS_ENDPOINT_URL_SAGEMAKER,
AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, the daemon's credentials in AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION). Usage: sdk_v3_flow.py NAME IMAGE MODEL_DATA_URL RESULT_FILE
Writes RESULT_FILE, JSON: what the endpoint answered and its status then (stdout has the SDK's
progress panels).
"""

import json
import sys

import boto3
from sagemaker.core.resources import Endpoint, EndpointConfig, Model
from sagemaker.core.shapes import ContainerDefinition, ProductionVariant


def main() -> None:
    name, image, model_data, result = sys.argv[1:5]
    session = boto3.Session()
    region = session.region_name
    model = Model.create(
        model_name=name,
        containers=[
            ContainerDefinition(
                image=image,
                model_data_url=model_data,
                environment={"ECHO_TAG": f"stage{i}"},
            )
            for i in range(1, 4)
        ],
        execution_role_arn="arn:aws:iam::123456789012:role/inferpipe",
        session=session,
        region=region,
    )
    config = EndpointConfig.create(
        endpoint_config_name=name,
        production_variants=[
            ProductionVariant(
                variant_name="AllTraffic", model_name=name, initial_instance_count=1, instance_type="ml.m5.large"
            )
        ],
        session=session,
        region=region,
    )
    endpoint = Endpoint.create(endpoint_name=name, endpoint_config_name=name, session=session, region=region)
    endpoint.wait_for_status("InService", timeout=180)
    answer = endpoint.invoke(body=b"hello", content_type="text/plain", accept="text/plain")
    body = answer.body.read() if hasattr(answer.body, "read") else answer.body
    status = Endpoint.get(endpoint_name=name, session=session, region=region).endpoint_status
    endpoint.delete()
    endpoint.wait_for_delete(timeout=120)
    config.delete()
    model.delete()
    with open(result, "w") as fh:
        json.dump({"body": body.decode() if isinstance(body, bytes) else body, "status": status}, fh)


if __name__ == "__main__":
    main()
