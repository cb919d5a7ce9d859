"""How dbt resources become Dagster assets: the default keys, grouped by the layer folder, described in
words (never SQL), with their columns, owners and tags taken from the dbt project."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator

# What a layer holds, for the sentence that describes a model the YAML leaves undescribed.
LAYER_ROLES = {
    "staging": "renames and casts a raw table",
    "intermediate": "is an intermediate step towards the marts",
    "marts": "is a mart published for analysts",
    "live": "holds today's live figures so far",
    "snapshots": "keeps the revisions of a mart",
}
# Where dbt resources carry Dagster settings (dbt 1.10+ keeps `meta` under `config`; older
# manifests at the top level): `meta: {dagster: {owners: [...]}}`, or a plain `owner`.
DAGSTER_META = "dagster"


def _meta(props: Mapping[str, Any]) -> dict[str, Any]:
    return {**(props.get("meta") or {}), **((props.get("config") or {}).get("meta") or {})}


def _owner(name: str) -> str:
    """Dagster takes an e-mail or `team:<name>`; a bare name in the dbt meta is a team."""
    return name if "@" in name or name.startswith("team:") else f"team:{name}"


def grain_sentence(props: Mapping[str, Any]) -> str:
    """`One row per film_id and business_date.` from the unique key, when the model declares one."""
    key = (props.get("config") or {}).get("unique_key")
    if not key:
        return ""
    columns = [key] if isinstance(key, str) else list(key)
    return f" One row per {' and '.join(columns)}."


class LayerGroupTranslator(DagsterDbtTranslator):
    """Groups come from where a resource lives: `models/<layer>/...` gives the group `<layer>`
    (staging, intermediate, marts); anything else is grouped by its top folder (snapshots)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        parts = PurePosixPath(dbt_resource_props["original_file_path"]).parts
        if len(parts) > 2 and parts[0] == "models":
            return parts[1]
        return parts[0] if len(parts) > 1 else None

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        # dagster-dbt's default appends the model's raw SQL (and falls back to it): people reading an
        # asset page want words; the SQL is one click away in the dbt docs.
        description = (dbt_resource_props.get("description") or "").strip()
        if description:
            return description
        name = dbt_resource_props["name"]
        layer = self.get_group_name(dbt_resource_props) or dbt_resource_props["resource_type"]
        role = LAYER_ROLES.get(layer, f"is a dbt {dbt_resource_props['resource_type']}")
        return f"`{name}` ({layer}) {role}.{grain_sentence(dbt_resource_props)}"

    def get_metadata(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, Any]:
        metadata = dict(super().get_metadata(dbt_resource_props))
        columns = dbt_resource_props.get("columns") or {}
        if columns:
            # Every column the YAML declares, with its data_type when it has one (blank otherwise,
            # rather than the default "?").
            metadata["dagster/column_schema"] = dg.TableSchema(
                columns=[
                    dg.TableColumn(
                        name=name,
                        type=(column.get("data_type") or "").lower(),
                        description=column.get("description") or None,
                        tags={tag: "" for tag in column.get("tags") or []},
                    )
                    for name, column in columns.items()
                ]
            )
        return metadata

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        meta = _meta(dbt_resource_props)
        owners = (meta.get(DAGSTER_META) or {}).get("owners") or meta.get("owners") or meta.get("owner")
        if owners:
            return [_owner(o) for o in ([owners] if isinstance(owners, str) else owners)]
        return super().get_owners(dbt_resource_props)

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        config_tags = (dbt_resource_props.get("config") or {}).get("tags") or []
        tags = [*(dbt_resource_props.get("tags") or []), *config_tags]
        return dict(super().get_tags({**dbt_resource_props, "tags": sorted(set(tags))}))
