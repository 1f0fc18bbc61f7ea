"""The container runtime: the Runtime interface and its Docker implementation, fleets of
instances, the chain call through an instance's containers, and model data."""
