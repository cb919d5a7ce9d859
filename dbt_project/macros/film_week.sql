{#- Film weeks run Thursday to Wednesday (releases open on Thursdays); the trade's weekend is Friday to
    Sunday. ekino_pipeline/calendar.py holds the same rule for Python (a test holds them together). -#}

{% macro film_week_start(day) -%}
    cast({{ day }} - cast((isodow({{ day }}) + 3) % 7 as integer) as date)
{%- endmacro %}

{% macro weekend_start(day) -%}
    case when (isodow({{ day }}) + 2) % 7 < 3
        then cast({{ day }} - cast((isodow({{ day }}) + 2) % 7 as integer) as date)
    end
{%- endmacro %}
