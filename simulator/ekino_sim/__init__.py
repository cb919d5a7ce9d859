"""The simulator and the demo: a fake national cinema network for the demo, the tests and the
benchmarks. Never part of the pipeline a ministry installs (`ekino_pipeline` imports nothing from here)."""

from pathlib import Path

# The registry of the simulated pilot network (103 cinemas, 68 connected): the demo's and the tests'.
SAMPLE_REGISTRY_DIR = Path(__file__).parent / "sample_registry"
