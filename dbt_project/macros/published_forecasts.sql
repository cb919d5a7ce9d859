{#- The published forecasts (source forecasts.film_forecasts, a Parquet file among the exports), or no
    row of the same columns while the file does not exist yet (before the forecasts' first run, or a
    build without exports): a build never fails for want of a forecast. The file is read where the
    build's vars say (exports_dir, as Dagster passes it), not where the project was parsed. -#}
{% macro published_forecasts() -%}
    {%- set relation = source('forecasts', 'film_forecasts') -%}
    {%- set exports = var('exports_dir', env_var('EKINO_EXPORTS_DIR', env_var('EKINO_HOME', '../.ekino') ~ '/exports')) -%}
    {%- set path = (exports ~ '/' ~ relation.identifier ~ '.parquet') | replace("'", "''") -%}
    {%- set found = false -%}
    {%- if execute -%}
        {%- set found = run_query("select count(*) from glob('" ~ path ~ "')").columns[0].values()[0] > 0 -%}
    {%- endif -%}
    {%- if found %}
    select
        film_id,
        cast(as_of_date as date) as as_of_date,
        cast(predicted_gross_kzt as decimal(18, 2)) as predicted_gross_kzt,
        cast(predicted_gross_low_kzt as decimal(18, 2)) as predicted_gross_low_kzt,
        cast(predicted_gross_high_kzt as decimal(18, 2)) as predicted_gross_high_kzt,
        cast(predicted_weeks_in_release as integer) as predicted_weeks_in_release,
        cast(days_since_release as integer) as days_since_release,
        model_version,
        cast(data_as_of as date) as data_as_of,
        cast(training_cutoff as date) as training_cutoff,
        published_at,
    from read_parquet('{{ path }}')
    {%- else %}
    select
        cast(null as varchar) as film_id,
        cast(null as date) as as_of_date,
        cast(null as decimal(18, 2)) as predicted_gross_kzt,
        cast(null as decimal(18, 2)) as predicted_gross_low_kzt,
        cast(null as decimal(18, 2)) as predicted_gross_high_kzt,
        cast(null as integer) as predicted_weeks_in_release,
        cast(null as integer) as days_since_release,
        cast(null as varchar) as model_version,
        cast(null as date) as data_as_of,
        cast(null as date) as training_cutoff,
        cast(null as timestamp with time zone) as published_at,
    where false
    {%- endif %}
{%- endmacro %}
