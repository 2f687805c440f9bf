"""Speed and accuracy benchmarks (run from the repository root: ``python -m benchmarks``)."""
