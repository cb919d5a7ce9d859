"""The benchmark harness of e-Kino: `python -m benchmarks.run [--quick]` (see docs/scaling.md)."""
