{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='business_date',
        pre_hook="{{ clear_session_window() }}",
        on_schema_change='fail',
    )
}}

{#- Box office is counted by the business day of the session, as KOBIS does: every sale and refund of a
    session lands on the session's day, whichever day it occurred. A session day counts once its own
    ticket events were pulled: sessions listed ahead of their day only feed advance_sales. -#}

with

event_days as (
    select distinct business_date
    from {{ ref('stg_raw__landing_manifests') }}
    where dataset = 'ticket_events' and {{ in_session_window('business_date') }}
),

sessions as (
    select * from {{ ref('stg_raw__sessions') }}
    where {{ in_session_window('session_date') }}
        and session_date in (select business_date from event_days)
),

events as (
    select * from {{ ref('int_ticket_events_attributed') }}
    where {{ events_for_session_window('event_date') }}
),

halls as (
    select * from {{ ref('stg_raw__halls') }}
),

cinemas as (
    select * from {{ ref('stg_raw__cinemas') }}
),

session_totals as (
    {{ session_ticket_totals('events') }}
),

final as (
    select
        sessions.session_id,
        sessions.session_date as business_date,
        sessions.cinema_id,
        cinemas.region_code,
        sessions.hall_id,
        sessions.film_id,
        sessions.starts_at,
        sessions.format,
        sessions.audio_language,
        sessions.subtitle_language,
        halls.n_seats as hall_seats,
        coalesce(session_totals.n_tickets_sold, 0) as n_tickets_sold,
        coalesce(session_totals.n_tickets_refunded, 0) as n_tickets_refunded,
        coalesce(session_totals.n_tickets_sold, 0)
            - coalesce(session_totals.n_tickets_refunded, 0) as admissions,
        cast(coalesce(session_totals.paid_admissions, 0) as bigint) as paid_admissions,
        cast(coalesce(session_totals.sales_kzt, 0) as decimal(18, 2)) as sales_kzt,
        cast(coalesce(session_totals.refunds_kzt, 0) as decimal(18, 2)) as refunds_kzt,
        cast(
            coalesce(session_totals.sales_kzt, 0) - coalesce(session_totals.refunds_kzt, 0)
            as decimal(18, 2)
        ) as gross_kzt,
        session_totals.last_event_at,
    from sessions
    left join session_totals
        on sessions.session_id = session_totals.session_id
    left join halls
        on sessions.hall_id = halls.hall_id
    left join cinemas
        on sessions.cinema_id = cinemas.cinema_id
)

select * from final
