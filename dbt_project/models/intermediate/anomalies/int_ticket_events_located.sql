{{ config(materialized='ephemeral') }}

{#- Every ticket event that can belong to a session of the window, placed on the business day of its
    session: the loaded session's, else the quarantined session's, else (a session nobody listed) the
    day of the last event naming it, never the shape of an id, which the exchange contract does not
    define. Ephemeral: each family of anomalies inlines it with its own build's window, so no table of
    it lags behind the window being rebuilt, and no copy of every event is stored. -#}

with

events as (
    select * from {{ ref('int_ticket_events_attributed') }}
    where {{ events_for_session_window('event_date') }}
),

sessions as (
    select * from {{ ref('stg_raw__sessions') }}
),

quarantined_sessions as (
    select * from {{ ref('int_quarantined_sessions') }}
),

listed as (
    select
        events.event_id,
        events.ticket_id,
        events.session_id,
        events.cinema_id,
        events.event_date,
        events.occurred_at,
        events.amount_kzt,
        events.seat_row,
        events.seat_number,
        events.is_sale,
        events.is_refund,
        sessions.session_id is not null as is_session_known,
        quarantined_sessions.session_id is not null as is_session_quarantined,
        sessions.starts_at,
        coalesce(sessions.film_id, quarantined_sessions.film_id) as film_id,
        quarantined_sessions.reason as session_quarantine_reason,
        quarantined_sessions.reason_code as session_quarantine_reason_code,
        coalesce(sessions.session_date, quarantined_sessions.session_date) as listed_session_date,
    from events
    left join sessions
        on events.session_id = sessions.session_id
    left join quarantined_sessions
        on events.cinema_id = quarantined_sessions.cinema_id
        and events.session_id = quarantined_sessions.session_id
),

unlisted_session_dates as (
    select session_id, max(event_date) as session_date
    from listed
    where listed_session_date is null
    group by session_id
),

located as (
    select
        listed.* exclude (listed_session_date),
        coalesce(listed.listed_session_date, unlisted_session_dates.session_date) as session_date,
    from listed
    left join unlisted_session_dates
        on listed.listed_session_date is null
        and listed.session_id = unlisted_session_dates.session_id
),

final as (
    select * from located
    where {{ in_session_window('session_date') }}
)

select * from final
