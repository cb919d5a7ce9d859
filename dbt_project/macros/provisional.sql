{#- The day the build stands on: var as_of_date, or today in Asia/Almaty. -#}
{% macro as_of_date() -%}
    {%- set day = _var_date('as_of_date') -%}
    {%- if day is not none -%}
        date '{{ day }}'
    {%- else -%}
        cast(timezone('{{ var("business_timezone") }}', current_timestamp) as date)
    {%- endif -%}
{%- endmacro %}

{#- A business day is open until as_of_date has passed it by closing_lag_days (the closing period). -#}
{% macro is_day_open(column) -%}
    ({{ column }} > {{ as_of_date() }} - {{ var('closing_lag_days') | int }})
{%- endmacro %}

{#- What a day's figures leave out, in a fixed order (empty when nothing), from the flags of `covered`,
    an alias of int_region_days_covered or int_national_days_covered:
      coverage_unknown       no coverage is known for the day
      cinemas_missing        a connected cinema's pull of the day failed or was not made
      cinemas_silent         a connected cinema answered with no sales while sessions were scheduled
      presales_not_loaded    ticket events of a day before it that can hold presales were not loaded
      late_sales_not_loaded  the next day's ticket events (sales after midnight) were not loaded
      records_quarantined    records of the day were quarantined (see the quarantine mart)
    `extra` adds exclusions of the caller's own, as SQL expressions yielding a reason or null. -#}
{% macro day_exclusions(covered, extra=[]) -%}
    list_filter(
        [
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

{#- Why a figure may still change (empty once final). While its day is open (closing_lag_days after
    it): day_open, then its exclusions, which a late pull or a replay can still fill. Once the day has
    closed the figure is final and its exclusions stay stated beside it (the `exclusions` column); a
    later change is a revision (snapshots/revisions.yml). `holding` are reasons that keep a figure
    provisional past closing, because the figure itself cannot be made without them (settlement
    without rental terms), as SQL expressions yielding a reason or null. -#}
{% macro closing_reasons(period_end, exclusions, holding=[]) -%}
    list_concat(
        case
            when {{ is_day_open(period_end) }} then list_prepend('day_open', {{ exclusions }})
            else []::varchar[]
        end,
        list_filter(
            [
                {%- for expression in holding %}
                {{ expression }},
                {%- endfor %}
            ]::varchar[],
            lambda reason: reason is not null
        )
    )
{%- endmacro %}

{#- The provisional reasons of a day (or of a period, by its last day) from its coverage flags. -#}
{% macro provisional_reasons(day_column, covered, extra=[], holding=[]) -%}
    {{ closing_reasons(day_column, day_exclusions(covered, extra), holding) }}
{%- endmacro %}

{#- The columns a daily mart states its exclusions in, from `covered` (int_region_days_covered or
    int_national_days_covered): the list, the connected cinemas missing and silent that day, and the
    money quarantined records claim on the day's sessions. Null counts when no coverage is known. -#}
{% macro exclusion_columns(covered, extra=[]) -%}
{{ day_exclusions(covered, extra) }} as exclusions,
        cast({{ covered }}.n_cinemas_missing as integer) as n_cinemas_missing,
        cast({{ covered }}.n_cinemas_silent as integer) as n_cinemas_silent,
        cast({{ covered }}.quarantined_gross_kzt_claimed as decimal(18, 2)) as excluded_quarantined_gross_kzt,
{%- endmacro %}

{#- Post-hook of incremental day and period marts: rows outside the rebuilt window keep the exclusions
    they were built with, but time closes days: once `column` (the day, or the period's last day) has
    closed, the row turns final. Only the flag and the reasons change, never a figure. -#}
{% macro refresh_provisional_flags(column='business_date') -%}
    {%- if is_incremental() -%}
        {%- set refreshed = closing_reasons(column, 'exclusions') -%}
        update {{ this }}
        set provisional_reasons = {{ refreshed }}, is_provisional = len({{ refreshed }}) > 0
        where provisional_reasons is distinct from {{ refreshed }}
    {%- endif -%}
{%- endmacro %}
