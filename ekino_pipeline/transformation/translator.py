"""How dbt resources become Dagster assets: the default keys, grouped by the layer folder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from dagster_dbt import DagsterDbtTranslator


class LayerGroupTranslator(DagsterDbtTranslator):
    """Groups come from where a resource lives: `models/<layer>/...` gives the group `<layer>`
    (staging, intermediate, marts); anything else is grouped by its top folder (snapshots)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        parts = PurePosixPath(dbt_resource_props["original_file_path"]).parts
        if len(parts) > 2 and parts[0] == "models":
            return parts[1]
        return parts[0] if len(parts) > 1 else None
