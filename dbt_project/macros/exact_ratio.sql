{#- numerator / denominator rounded half away from zero to `scale` decimals, as DECIMAL(38, scale).
    DuckDB divides decimals in DOUBLE; money and shares must stay exact, so both sides (money with two
    decimals, or counts) are turned into integers of hundredths and divided as HUGEINT. Null when the
    denominator is null or zero. -#}
{% macro exact_ratio(numerator, denominator, scale=4) -%}
    {%- set num = "cast((" ~ numerator ~ ") * 100 as hugeint)" -%}
    {%- set den = "cast((" ~ denominator ~ ") * 100 as hugeint)" -%}
    case
        when ({{ denominator }}) is null or ({{ denominator }}) = 0 or ({{ numerator }}) is null then null
        else cast(
            sign({{ num }}) * sign({{ den }})
            * ((abs({{ num }}) * {{ 2 * 10 ** scale }} + abs({{ den }})) // (2 * abs({{ den }})))
            as decimal(38, 0)
        ) * 0.{{ '0' * (scale - 1) }}1
    end
{%- endmacro %}
