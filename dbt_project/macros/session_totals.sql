{#- A session's ticket totals, from ticket events as int_ticket_events_attributed has them (a refund
    counting against the session of its sale). Written once for the box office of the session days that
    were pulled (int_sessions_aggregated) and the advance sales of the days to come (advance_sales):
    each passes the events it read, so each keeps its own window. One row per session with an event. -#}

{% macro session_ticket_totals(events) -%}
    select
        session_id,
        count(*) filter (where is_sale) as n_tickets_sold,
        count(*) filter (where is_refund) as n_tickets_refunded,
        sum(admissions_delta) filter (where is_paid) as paid_admissions,
        sum(amount_kzt) filter (where is_sale) as sales_kzt,
        sum(amount_kzt) filter (where is_refund) as refunds_kzt,
        max(occurred_at) as last_event_at,
    from {{ events }}
    group by session_id
{%- endmacro %}
