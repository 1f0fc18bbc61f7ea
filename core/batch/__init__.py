"""Batch transform: jobs, their inputs and outputs, record splitting, mini-batches and
DataProcessing."""
