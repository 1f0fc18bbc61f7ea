"""The daemon harness the tests and the bench share: a real daemon in a temporary home, boto3
clients and signed raw requests pointed at it, and cleanup of everything it started.

It lives under tests/ because the test suite is its main user and already has tests/ on its
path; the bench (an optional tool run from the repository root) puts tests/ on its path to use it,
so the test suite never depends on the bench.
"""
