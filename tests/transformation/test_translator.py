"""The dbt translator on the resource properties dbt writes in its manifest."""

from __future__ import annotations

from ekino_pipeline.transformation.translator import LayerGroupTranslator

MODEL = {
    "name": "film_region_daily",
    "resource_type": "model",
    "original_file_path": "models/marts/charts/film_region_daily.sql",
    "description": "",
    "raw_code": "select * from {{ ref('int_film_days_aggregated') }}",
    "config": {
        "unique_key": ["film_id", "region_code", "business_date"],
        "meta": {"dagster": {"owners": ["box_office", "analyst@ekino.kz"]}},
        "tags": ["box_office"],
    },
    "tags": ["charts"],
    "columns": {
        "film_id": {"name": "film_id", "description": "The film.", "data_type": "VARCHAR"},
        "gross_kzt": {"name": "gross_kzt", "description": "", "tags": ["money"]},
    },
}


def test_a_model_without_a_description_is_described_in_words_from_its_name_layer_and_grain():
    text = LayerGroupTranslator().get_description(MODEL)
    assert text == (
        "`film_region_daily` (marts) is a mart published for analysts. "
        "One row per film_id and region_code and business_date."
    )
    assert LayerGroupTranslator().get_description({**MODEL, "description": "One row per film."}) == (
        "One row per film."
    )


def test_owners_and_tags_come_from_the_config_meta_and_both_tag_lists():
    translator = LayerGroupTranslator()
    assert translator.get_owners(MODEL) == ["team:box_office", "analyst@ekino.kz"]
    assert translator.get_tags(MODEL) == {"box_office": "", "charts": ""}
    assert translator.get_owners({**MODEL, "config": {}}) is None


def test_every_declared_column_is_listed_with_its_type_or_none():
    schema = LayerGroupTranslator().get_metadata(MODEL)["dagster/column_schema"]
    assert [(c.name, c.type, c.description, dict(c.tags)) for c in schema.columns] == [
        ("film_id", "varchar", "The film.", {}),
        ("gross_kzt", "", None, {"money": ""}),
    ]
