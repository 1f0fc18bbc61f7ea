"""Data capture: SageMaker's capture records, written off the request path to a destination.
Design notes: docs/data-capture.md."""
