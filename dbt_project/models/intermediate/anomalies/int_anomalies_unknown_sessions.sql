{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='business_date',
        pre_hook="{{ clear_session_window() }}",
        on_schema_change='fail',
    )
}}

{#- Sessions nobody listed, for the anomalies mart: events naming a session the cinema never listed
    (unknown_session), one finding per session, on the day of the last event naming it. A session is
    known to be unknown once the cinema's sessions have landed for every day its events allow: an event
    of day E belongs to a session of day E - 1 .. E + presale_horizon_days. -#}

{%- set horizon = var('presale_horizon_days') | int %}

with

session_events as (
    select * from {{ ref('int_ticket_events_located') }}
    where not is_session_known and not is_session_quarantined
),

manifests as (
    select * from {{ ref('stg_raw__landing_manifests') }}
    where is_success
),

unknown_sessions as (
    select
        session_id,
        cinema_id,
        session_date,
        min(event_date) as first_event_date,
        max(event_date) as last_event_date,
        arg_min(event_id, occurred_at) as first_event_id,
        min(occurred_at) as first_occurred_at,
        count(*) as n_events,
    from session_events
    group by session_id, cinema_id, session_date
),

unknown_session_days as (
    select
        *,
        last_event_date - 1 as first_possible_date,
        greatest(first_event_date + {{ horizon }}, last_event_date - 1) as last_possible_date,
    from unknown_sessions
),

final as (
    select
        'unknown_session' as anomaly_type,
        session_id || '@' || session_date as subject_id,
        session_date as business_date,
        cinema_id,
        session_id,
        null::varchar as film_id,
        null::varchar as ticket_id,
        first_event_id as event_id,
        first_occurred_at as occurred_at,
        n_events || ' events name a session the cinema never listed on any day from '
            || first_possible_date || ' to ' || last_possible_date as details,
    from unknown_session_days
    where (
        select count(*) from manifests
        where manifests.dataset = 'sessions'
            and manifests.cinema_id = unknown_session_days.cinema_id
            and manifests.business_date between first_possible_date and last_possible_date
    ) = last_possible_date - first_possible_date + 1
)

select * from final
