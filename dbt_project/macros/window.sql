{#- The partition window. `start_date`/`end_date` bound the business days of the ticket events being
    (re)processed; the session days those events can touch run from start_date - 1 (a sale just after a
    session that started before midnight) to end_date + presale_horizon_days. Null bounds mean "all". -#}

{% macro _var_date(name) -%}
    {%- set value = var(name) -%}
    {%- if value is none or (value | string | trim) == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set text = value | string | trim -%}
    {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', text) -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be a date as YYYY-MM-DD, got " ~ text) }}
    {%- endif -%}
    {{ return(modules.datetime.date.fromisoformat(text)) }}
{%- endmacro %}

{% macro session_window() -%}
    {%- set start = _var_date('start_date') -%}
    {%- set end = _var_date('end_date') -%}
    {%- if start is not none and end is not none and start > end -%}
        {{ exceptions.raise_compiler_error("start_date " ~ start ~ " is after end_date " ~ end) }}
    {%- endif -%}
    {%- set one_day = modules.datetime.timedelta(days=1) -%}
    {%- set horizon = modules.datetime.timedelta(days=var('presale_horizon_days') | int) -%}
    {{ return({
        'first': (start - one_day) if start is not none else none,
        'last': (end + horizon) if end is not none else none,
    }) }}
{%- endmacro %}

{#- True for the session business days the window rebuilds. `open_ended` keeps every later day too:
    marts carrying running totals (cumulative gross, week-over-week) must rewrite what follows. -#}
{% macro in_session_window(column, open_ended=false) -%}
    {%- set window = session_window() -%}
    {%- set conditions = [] -%}
    {%- if window.first is not none -%}
        {%- do conditions.append(column ~ " >= date '" ~ window.first ~ "'") -%}
    {%- endif -%}
    {%- if window.last is not none and not open_ended -%}
        {%- do conditions.append(column ~ " <= date '" ~ window.last ~ "'") -%}
    {%- endif -%}
    {{- conditions | join(' and ') if conditions else 'true' -}}
{%- endmacro %}

{#- Days before the window's first session day (the presale lookback's event days, read from
    events_for_session_window): false for a build without a window. -#}
{% macro before_session_window(column) -%}
    {%- set window = session_window() -%}
    {%- if window.first is none -%}
        false
    {%- else -%}
        {{ column }} < date '{{ window.first }}'
    {%- endif -%}
{%- endmacro %}

{#- Ticket events that can belong to sessions of the window: presales start at most
    presale_horizon_days before their session's day. Only a lower bound: a sale long after its session
    started is still that session's (and an anomaly). -#}
{% macro events_for_session_window(column) -%}
    {%- set window = session_window() -%}
    {%- if window.first is none -%}
        true
    {%- else -%}
        {{ column }} >= date '{{ window.first }}' - {{ var('presale_horizon_days') | int }}
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of incremental models: delete+insert only replaces the days present in the new rows, so a
    day whose rows all vanished (a corrected re-pull) is cleared here first, in the same transaction. -#}
{% macro clear_session_window(column='business_date', open_ended=false) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ in_session_window(column, open_ended) }}
    {%- endif -%}
{%- endmacro %}
