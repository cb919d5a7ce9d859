{#- Revision times are instants: stored as TIMESTAMP WITH TIME ZONE, so "as of" questions give the same
    answer whatever the reader's TimeZone setting (dbt-duckdb stores a local TIMESTAMP by default). -#}
{% macro duckdb__snapshot_get_time() -%}
    now()
{%- endmacro %}

{% macro duckdb__snapshot_string_as_time(timestamp) -%}
    {%- do return("'" ~ timestamp ~ "'::timestamptz") -%}
{%- endmacro %}

{#- on-run-start: snapshots written before revision times carried their zone held UTC wall-clock times
    (the profile's TimeZone is UTC); they are converted in place, once. -#}
{% macro migrate_revision_times() -%}
    {%- if execute -%}
        {%- set columns = run_query(
            "select table_name, column_name from duckdb_columns() where schema_name = 'revisions'"
            ~ " and column_name in ('dbt_valid_from', 'dbt_valid_to', 'dbt_updated_at')"
            ~ " and data_type = 'TIMESTAMP'"
        ) -%}
        {%- for row in columns.rows -%}
            {%- do run_query(
                "alter table revisions." ~ row[0] ~ " alter " ~ row[1] ~ " set data type timestamptz"
                ~ " using timezone('UTC', " ~ row[1] ~ ")"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
