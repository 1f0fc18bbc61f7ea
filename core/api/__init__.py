"""The wire edge: SageMaker's JSON 1.1 control plane and REST runtime over HTTP, authentication,
request decoding and validation, and the operations that hand typed work to serving and batch."""
