"""The exchange client (being split into one module per concern)."""

from ekino_pipeline.exchange.client.endpoints import *  # noqa: F403
from ekino_pipeline.exchange.client.endpoints import _columnar_events  # noqa: F401
