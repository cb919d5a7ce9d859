{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='business_date',
        pre_hook="{{ clear_session_window() }}",
        on_schema_change='fail',
    )
}}

{#- Sales long after the start, for the anomalies mart: a ticket sold more than late_sale_minutes after
    its session started (late_sale), a pattern of box office fraud seen in other national systems. -#}

with

sales as (
    select * from {{ ref('int_ticket_events_located') }}
    where is_sale and is_session_known
),

final as (
    select
        'late_sale' as anomaly_type,
        event_id as subject_id,
        session_date as business_date,
        cinema_id,
        session_id,
        film_id,
        ticket_id,
        event_id,
        occurred_at,
        'sold ' || cast(date_diff('minute', starts_at, occurred_at) as varchar)
            || ' minutes after the session started' as details,
    from sales
    where occurred_at > starts_at + interval ({{ var('late_sale_minutes') | int }}) minute
)

select * from final
