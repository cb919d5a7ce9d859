{#- The integrity checks judge the film weeks of the build's window (in_film_week_window) against norms
    learnt from the history before them: integrity_norm_weeks film weeks back from the window's first
    week, up to the window's last week. Null bounds mean all the history. -#}
{% macro in_integrity_history(column) -%}
    {%- set start = _var_date('start_date') -%}
    {%- set end = _var_date('end_date') -%}
    {%- set conditions = [] -%}
    {%- if start is not none -%}
        {%- do conditions.append(
            column ~ " >= " ~ film_week_start("date '" ~ start ~ "'") ~ " - "
            ~ (7 * (var('integrity_norm_weeks') | int))
        ) -%}
    {%- endif -%}
    {%- if end is not none -%}
        {%- do conditions.append(column ~ " <= " ~ film_week_start("date '" ~ end ~ "'") ~ " + 6") -%}
    {%- endif -%}
    {{- conditions | join(' and ') if conditions else 'true' -}}
{%- endmacro %}

{#- A session's hour band by its local start time: night (22:00-05:59, late-night and dawn), morning,
    afternoon (12:00-17:59), evening (18:00-21:59). -#}
{% macro hour_band(hour) -%}
    case
        when {{ hour }} >= 22 or {{ hour }} < 6 then 'night'
        when {{ hour }} >= 18 then 'evening'
        when {{ hour }} >= 12 then 'afternoon'
        else 'morning'
    end
{%- endmacro %}

{#- Poisson upper tail P(X >= k) for a mean `lam` (k >= 1, lam > 0), summed over k..k+200 in log space:
    the terms past those are negligible while lam is well below k, the only case that can be a finding. -#}
{% macro poisson_upper_tail(k, lam) -%}
    list_sum(list_transform(
        range({{ k }}, {{ k }} + 200),
        lambda i: exp(-({{ lam }}) + i * ln({{ lam }}) - lgamma(i + 1))
    ))
{%- endmacro %}

{#- How far a value stands above a distribution's middle, robustly: (x - median) / (1.4826 * MAD), the
    MAD floored at `floor` so that a distribution of identical values still has a spread. -#}
{% macro robust_z(value, median, mad, floor=0.01) -%}
    ({{ value }} - {{ median }}) / (1.4826 * greatest({{ mad }}, {{ floor }}))
{%- endmacro %}
