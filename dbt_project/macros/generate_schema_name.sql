{#- Schemas are the layers themselves (staging, intermediate, marts, revisions), not prefixed by the
    target's schema: analysts and the Parquet export find the marts in `marts`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name else target.schema }}
{%- endmacro %}
