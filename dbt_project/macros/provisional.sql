{#- The day the build stands on: var as_of_date, or today in Asia/Almaty. -#}
{% macro as_of_date() -%}
    {%- set day = _var_date('as_of_date') -%}
    {%- if day is not none -%}
        date '{{ day }}'
    {%- else -%}
        cast(timezone('{{ var("business_timezone") }}', current_timestamp) as date)
    {%- endif -%}
{%- endmacro %}

{#- A business day is open until as_of_date has passed it by closing_lag_days. -#}
{% macro is_day_open(column) -%}
    ({{ column }} > {{ as_of_date() }} - {{ var('closing_lag_days') | int }})
{%- endmacro %}

{#- Why a day's figures are not final yet, in a fixed order (empty when final), from the flags of
    `covered`, an alias of int_region_days_covered or int_national_days_covered:
      day_open               the day has not closed (closing_lag_days after it)
      coverage_unknown       no coverage is known for the day
      cinemas_missing        a connected cinema's pull of the day failed or was not made
      cinemas_silent         a connected cinema answered with no sales while sessions were scheduled
      presales_not_loaded    ticket events of a day before it that can hold presales were not loaded
      late_sales_not_loaded  the next day's ticket events (sales after midnight) were not loaded
      records_quarantined    records of the day were quarantined (see the quarantine mart)
    `extra` adds reasons of the caller's own, as SQL expressions yielding a reason or null. -#}
{% macro provisional_reasons(day_column, covered, extra=[]) -%}
    list_filter(
        [
            case when {{ is_day_open(day_column) }} then 'day_open' end,
            case when {{ covered }}.business_date is null then 'coverage_unknown' end,
            case when {{ covered }}.has_cinemas_missing then 'cinemas_missing' end,
            case when {{ covered }}.has_cinemas_silent then 'cinemas_silent' end,
            case when {{ covered }}.has_presales_not_loaded then 'presales_not_loaded' end,
            case when {{ covered }}.has_late_sales_not_loaded then 'late_sales_not_loaded' end,
            case when {{ covered }}.has_records_quarantined then 'records_quarantined' end,
            {%- for expression in extra %}
            {{ expression }},
            {%- endfor %}
        ]::varchar[],
        lambda reason: reason is not null
    )
{%- endmacro %}

{#- Post-hook of incremental day marts: rows outside the rebuilt window keep the reasons they were
    built with, but time closes days: day_open is set or dropped here. Only the flag and the reasons
    change, never a figure. -#}
{% macro refresh_provisional_flags(column='business_date') -%}
    {%- if is_incremental() -%}
        {%- set others = "list_filter(provisional_reasons, lambda reason: reason <> 'day_open')" -%}
        {%- set refreshed -%}
            (case when {{ is_day_open(column) }} then list_prepend('day_open', {{ others }}) else {{ others }} end)
        {%- endset -%}
        update {{ this }}
        set provisional_reasons = {{ refreshed }}, is_provisional = len({{ refreshed }}) > 0
        where provisional_reasons is distinct from {{ refreshed }}
    {%- endif -%}
{%- endmacro %}
