{#- Data tests on the event-level models check the rows a build read or rewrote, not the whole history.

    A model opts in with `meta: {test_window_column: <business day column>}` in its properties. On a
    windowed build (start_date set), every data test of that model sees only the rows whose day is on or
    after the first day the build reads (the window's start minus one day minus the presale horizon, as
    events_for_session_window): a unique test on event_id would otherwise read every event of the
    history on every daily build, a cost that grows with years of history. With the var
    `full_history_tests` true (the Sunday daily run; any `dbt build` without a window), the same tests
    read the whole table, so a duplicate between the window and a far older day is still found, weekly.

    dbt calls get_where_subquery for the model a data test is about; a test's own `where` config is
    kept and combined with the window. -#}

{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set window = test_window_condition() -%}
    {%- if window -%}
        {%- do conditions.append(window) -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{#- The window condition for the model the current data test is attached to, or none. -#}
{% macro test_window_condition() -%}
    {%- if not execute or var('full_history_tests') | string | lower in ('true', '1') -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set tested = graph.nodes.get(model.get('attached_node') or '') -%}
    {%- set column = tested.config.meta.get('test_window_column') if tested else none -%}
    {%- if not column -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set condition = events_for_session_window(column) | trim -%}
    {%- do return(none if condition == 'true' else condition) -%}
{%- endmacro %}
