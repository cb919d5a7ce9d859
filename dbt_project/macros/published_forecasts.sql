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
    {#- Each column with its type, once: the file's columns cast to it, or the empty row set's. -#}
    {%- set columns = [
        ('film_id', 'varchar'),
        ('as_of_date', 'date'),
        ('predicted_gross_kzt', 'decimal(18, 2)'),
        ('predicted_gross_low_kzt', 'decimal(18, 2)'),
        ('predicted_gross_high_kzt', 'decimal(18, 2)'),
        ('predicted_weeks_in_release', 'integer'),
        ('days_since_release', 'integer'),
        ('model_version', 'varchar'),
        ('data_as_of', 'date'),
        ('training_cutoff', 'date'),
        ('published_at', 'timestamp with time zone'),
    ] -%}
    select
    {%- for name, type in columns %}
        cast({{ name if found else 'null' }} as {{ type }}) as {{ name }},
    {%- endfor %}
    {%- if found %}
    from read_parquet('{{ path }}')
    {%- else %}
    where false
    {%- endif %}
{%- endmacro %}
