"""Benchmarks: ``python -m benchmarks.bench_<area>``; results recorded in RESULTS.md."""
