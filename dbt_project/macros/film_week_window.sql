{#- The film weeks a build settles: those holding the ticket-event days start_date..end_date (null bounds
    mean all). A weekly partition passes its Thursday and Wednesday, so it settles exactly its week; the
    completeness its days need (presales before them, late sales after) is built by the daily runs. -#}
{% macro in_film_week_window(column) -%}
    {%- set start = _var_date('start_date') -%}
    {%- set end = _var_date('end_date') -%}
    {%- set conditions = [] -%}
    {%- if start is not none -%}
        {%- do conditions.append(column ~ " >= " ~ film_week_start("date '" ~ start ~ "'")) -%}
    {%- endif -%}
    {%- if end is not none -%}
        {%- do conditions.append(column ~ " <= " ~ film_week_start("date '" ~ end ~ "'")) -%}
    {%- endif -%}
    {{- conditions | join(' and ') if conditions else 'true' -}}
{%- endmacro %}

{#- Pre-hook of the weekly marts: the weeks of the window are cleared before delete+insert, so a week
    whose rows all vanished (a corrected re-pull) does not keep stale ones. -#}
{% macro clear_film_week_window(column='film_week_start') -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ in_film_week_window(column) }}
    {%- endif -%}
{%- endmacro %}
