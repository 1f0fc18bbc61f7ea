"""The inferpipe engine: daemon, SageMaker wire API, store, Docker runtime."""
