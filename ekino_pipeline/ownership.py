"""Who answers for the Python assets and what they are about, as owners and tags on their pages. The dbt
models take theirs from the dbt project (`meta.dagster.owners` and tags, see transformation/translator.py);
these use the same kinds of tags, so `tag:ingestion` or `tag:funding` selects across both."""

from __future__ import annotations

# The team that runs the pulls, the loaders and the monitoring.
DATA_PLATFORM = "team:data-platform"
PLATFORM_OWNERS = [DATA_PLATFORM]

# Tags are selection keys with an empty value, as dagster-dbt makes of a dbt tag.
INGESTION = {"ingestion": ""}
REGISTRIES = {**INGESTION, "registry": ""}
BOX_OFFICE = {"box_office": ""}
LIVE = {"live": ""}
QUALITY = {"quality": ""}
SETTLEMENT = {"settlement": ""}
