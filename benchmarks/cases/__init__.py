"""Benchmark cases: each runs jaxdeep and its baselines side by side (see ../run.py)."""
