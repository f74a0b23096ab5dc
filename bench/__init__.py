"""Benchmarks: ``python -m bench <name>``; each prints its numbers and a ratio against a reference."""
