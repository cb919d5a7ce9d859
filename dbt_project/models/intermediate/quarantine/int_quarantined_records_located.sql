{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='session_date',
        pre_hook="{{ clear_session_window('session_date') }}",
        on_schema_change='fail',
    )
}}

{#- Money that does not reach the box office, on the business day of the session it claims: every
    quarantined record, and every landed ticket event held back because its session was quarantined
    (a session of a film not yet in the registry). A quarantined event is placed on its session's day
    when that session is known (landed or quarantined), else on the day it occurred. Gross claimed is
    sales minus refunds where the event type and amount can be read; a conflicting duplicate claims
    nothing (the event it duplicates is counted). -#}

with

quarantined as (
    select * from {{ ref('stg_raw__quarantined_records') }}
    where {{ events_for_session_window('business_date') }}
),

sessions as (
    select * from {{ ref('stg_raw__sessions') }}
),

events as (
    select * from {{ ref('stg_raw__ticket_events') }}
    where {{ events_for_session_window('event_date') }}
),

quarantined_sessions as (
    select * from {{ ref('int_quarantined_sessions') }}
),

quarantined_records as (
    select
        'quarantined' as record_kind,
        quarantined.dataset,
        quarantined.cinema_id,
        quarantined.business_date as pulled_date,
        case
            when quarantined.dataset = 'sessions' then quarantined.business_date
            else coalesce(sessions.session_date, quarantined_sessions.session_date, quarantined.business_date)
        end as session_date,
        quarantined.claimed_session_id as session_id,
        case
            when quarantined.dataset = 'sessions' then quarantined.claimed_film_id
            else coalesce(sessions.film_id, quarantined_sessions.film_id)
        end as film_id,
        quarantined.claimed_ticket_id as ticket_id,
        quarantined.claimed_event_id as event_id,
        quarantined.claimed_event_type as event_type,
        quarantined.claimed_occurred_at as occurred_at,
        quarantined.claimed_amount_kzt as amount_kzt,
        quarantined.claimed_gross_kzt as gross_kzt_claimed,
        quarantined.reason,
        quarantined.reason_code,
        quarantined.raw_record,
        quarantined.attempt_id,
    from quarantined
    left join sessions
        on quarantined.dataset = 'ticket_events'
        and quarantined.claimed_session_id = sessions.session_id
    left join quarantined_sessions
        on quarantined.dataset = 'ticket_events'
        and quarantined.cinema_id = quarantined_sessions.cinema_id
        and quarantined.claimed_session_id = quarantined_sessions.session_id
),

held_back as (
    select
        'held_back' as record_kind,
        'ticket_events' as dataset,
        events.cinema_id,
        events.event_date as pulled_date,
        quarantined_sessions.session_date,
        events.session_id,
        quarantined_sessions.film_id,
        events.ticket_id,
        events.event_id,
        events.event_type,
        events.occurred_at,
        events.amount_kzt,
        case when events.is_refund then -events.amount_kzt else events.amount_kzt end as gross_kzt_claimed,
        'session quarantined: ' || quarantined_sessions.reason as reason,
        'session_' || quarantined_sessions.reason_code as reason_code,
        null::varchar as raw_record,
        events.attempt_id,
    from events
    inner join quarantined_sessions
        on events.cinema_id = quarantined_sessions.cinema_id
        and events.session_id = quarantined_sessions.session_id
    -- A session landed since (a replay) releases its events.
    where not exists (
        select 1 from sessions
        where sessions.session_id = events.session_id
    )
),

unioned as (
    select * from quarantined_records
    union all by name
    select * from held_back
),

final as (
    select
        record_kind,
        dataset,
        cinema_id,
        pulled_date,
        session_date,
        session_id,
        film_id,
        ticket_id,
        event_id,
        event_type,
        occurred_at,
        cast(amount_kzt as decimal(14, 2)) as amount_kzt,
        cast(gross_kzt_claimed as decimal(18, 2)) as gross_kzt_claimed,
        reason,
        reason_code,
        raw_record,
        attempt_id,
    from unioned
    where {{ in_session_window('session_date') }}
)

select * from final
