{#- The day the build stands on: var as_of_date, or today in Asia/Almaty. -#}
{% macro as_of_date() -%}
    {%- set day = _var_date('as_of_date') -%}
    {%- if day is not none -%}
        date '{{ day }}'
    {%- else -%}
        cast(timezone('{{ var("business_timezone") }}', current_timestamp) as date)
    {%- endif -%}
{%- endmacro %}

{#- A business day stays provisional until as_of_date has passed it by closing_lag_days. -#}
{% macro is_provisional(column) -%}
    ({{ column }} > {{ as_of_date() }} - {{ var('closing_lag_days') | int }})
{%- endmacro %}

{#- Post-hook of incremental day marts: rows outside the rebuilt window keep the flag they were built
    with, so days that closed since are flipped here. Only the flag changes, never a figure. -#}
{% macro refresh_provisional_flags(column='business_date') -%}
    {%- if is_incremental() -%}
        update {{ this }} set is_provisional = {{ is_provisional(column) }}
        where is_provisional is distinct from {{ is_provisional(column) }}
    {%- endif -%}
{%- endmacro %}
