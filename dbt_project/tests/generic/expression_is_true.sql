{#- Rows breaking an invariant; the expression reads like the rule ("gross_kzt = sales_kzt - refunds_kzt").
    A null result is a failure: an invariant that cannot be evaluated does not hold. -#}
{% test expression_is_true(model, expression, column_name=none) %}
select *
from {{ model }}
where not coalesce(({{ expression }}), false)
{% endtest %}
