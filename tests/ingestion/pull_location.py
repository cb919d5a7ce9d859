"""The ticket-events pull alone, as a code location for tests that run it with the dagster CLI: the
platform's whole Definitions (dbt included) take longer to load in each process of the run."""

import dagster as dg

from ekino_pipeline.definitions import build_resources
from ekino_pipeline.ingestion import assets as ingestion_assets
from ekino_pipeline.settings import Settings

defs = dg.Definitions(assets=[ingestion_assets.ticket_events], resources=build_resources(Settings.from_env()))
