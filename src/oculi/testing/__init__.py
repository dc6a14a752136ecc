"""Helpers shared by tests and benchmarks: random-weight checkpoints of real architectures."""
