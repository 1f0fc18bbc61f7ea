"""SageMaker's error types, as boto3 expects them. The wire layer renders them; the engine raises them."""

from __future__ import annotations


class SageMakerError(Exception):
    code = "InternalFailure"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def extra_fields(self) -> dict[str, object]:
        return {}


# Control plane (awsJson1.1)
class ValidationException(SageMakerError):
    code = "ValidationException"


class ResourceNotFound(SageMakerError):
    code = "ResourceNotFound"


class ResourceInUse(SageMakerError):
    code = "ResourceInUse"


class ResourceLimitExceeded(SageMakerError):
    code = "ResourceLimitExceeded"


class ConflictException(SageMakerError):
    code = "ConflictException"


class UnknownOperationException(SageMakerError):
    code = "UnknownOperationException"


class SerializationException(SageMakerError):
    code = "SerializationException"


class InternalFailure(SageMakerError):
    code = "InternalFailure"
    status = 500


# Data plane (restJson1). The names differ from the control plane's on purpose: it is the real API.
class ValidationError(SageMakerError):
    code = "ValidationError"


class ServiceUnavailable(SageMakerError):
    code = "ServiceUnavailable"
    status = 503


class ModelError(SageMakerError):
    code = "ModelError"
    status = 424

    def __init__(self, message: str, original_status: int, original_message: str, log_stream_arn: str) -> None:
        super().__init__(message)
        self.original_status = original_status
        self.original_message = original_message
        self.log_stream_arn = log_stream_arn

    def extra_fields(self) -> dict[str, object]:
        return {
            "OriginalStatusCode": self.original_status,
            "OriginalMessage": self.original_message,
            "LogStreamArn": self.log_stream_arn,
        }
