"""The report's definitions: the box office report built from the analysts' exports."""

import dagster as dg

from ekino_pipeline.report import assets
from ekino_pipeline.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(assets=assets.ASSETS)
