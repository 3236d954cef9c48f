"""The benchmark harness behind `python3 benchmarks/run.py` (see benchmarks/README.md)."""
