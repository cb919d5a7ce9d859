-- A view: the live marts read it and it costs nothing to keep; the exports take tables only.
{{ config(materialized='view') }}

with

state as (
    select * from {{ source('raw', 'live_state') }}
),

events as (
    select * from {{ source('raw', 'live_ticket_events') }}
),

sessions as (
    select * from {{ source('raw', 'live_sessions') }}
),

today_events as (
    select events.*
    from events
    inner join state on events.business_date = state.business_date
),

final as (
    select
        today_events.event_id,
        today_events.cinema_id,
        today_events.business_date,
        today_events.session_id,
        sessions.film_id,
        today_events.occurred_at,
        today_events.event_type = 'sale' as is_sale,
        cast(today_events.amount_kzt as decimal(14, 2)) as amount_kzt,
    from today_events
    left join sessions
        on today_events.session_id = sessions.session_id
        and today_events.cinema_id = sessions.cinema_id
)

select * from final
