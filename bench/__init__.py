"""Benchmarks of the inferpipe daemon and CLI, each figure against a baseline measured in the same run."""
