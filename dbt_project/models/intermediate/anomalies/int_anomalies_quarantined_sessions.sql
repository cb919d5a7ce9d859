{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='business_date',
        pre_hook="{{ clear_session_window() }}",
        on_schema_change='fail',
    )
}}

{#- Sessions held in quarantine, for the anomalies mart: the landed events of a session quarantined at
    landing, one finding per session, as a session of a film not in the national film registry
    (unregistered_film_session, the most common case) or a session quarantined for another reason
    (quarantined_session). -#}

with

session_events as (
    select * from {{ ref('int_ticket_events_located') }}
    where not is_session_known and is_session_quarantined
),

quarantined_sessions as (
    select
        session_id,
        cinema_id,
        session_date,
        any_value(film_id) as film_id,
        any_value(session_quarantine_reason) as reason,
        any_value(session_quarantine_reason_code) as reason_code,
        arg_min(event_id, occurred_at) as first_event_id,
        min(occurred_at) as first_occurred_at,
        count(*) as n_events,
        sum(case when is_refund then -amount_kzt else amount_kzt end) as gross_kzt,
    from session_events
    group by session_id, cinema_id, session_date
),

final as (
    select
        case
            when reason_code = 'unknown_film' then 'unregistered_film_session'
            else 'quarantined_session'
        end as anomaly_type,
        session_id || '@' || session_date as subject_id,
        session_date as business_date,
        cinema_id,
        session_id,
        film_id,
        null::varchar as ticket_id,
        first_event_id as event_id,
        first_occurred_at as occurred_at,
        case
            when reason_code = 'unknown_film'
                then n_events || ' events (' || gross_kzt || ' KZT) of a session of film ' || film_id
                    || ', not in the national film registry: held back until the film is registered'
                    || ' and the quarantine replayed'
            else n_events || ' events (' || gross_kzt || ' KZT) of a session held in quarantine: ' || reason
        end as details,
    from quarantined_sessions
)

select * from final
