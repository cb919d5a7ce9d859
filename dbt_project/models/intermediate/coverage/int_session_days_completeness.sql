{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='business_date',
        pre_hook="{{ clear_session_window(open_ended=true) }}",
        on_schema_change='fail',
    )
}}

{#- Whether each connected cinema's box office of session day D is complete: its pulls of D succeeded
    and it reported (see int_cinema_days_reported), the ticket events of every day that can hold sales
    of D's sessions were loaded (the presale horizon before D, and D + 1 for a sale during the trailers
    after midnight), and nothing of D was quarantined. Open-ended like the running marts: a window
    rewrites every later day too, since its pulls can complete them. -#}

{%- set horizon = var('presale_horizon_days') | int %}

with

cinema_days as (
    select * from {{ ref('int_cinema_days_reported') }}
    where is_connected and {{ in_session_window('business_date', open_ended=true) }}
),

event_pulls as (
    select cinema_id, business_date
    from {{ ref('stg_raw__landing_manifests') }}
    where dataset = 'ticket_events' and is_success and {{ events_for_session_window('business_date') }}
),

quarantined as (
    select * from {{ ref('int_quarantined_records_located') }}
    where {{ in_session_window('session_date', open_ended=true) }}
),

loaded_event_days as (
    select
        cinema_days.cinema_id,
        cinema_days.business_date,
        count(event_pulls.business_date) filter (
            where event_pulls.business_date < cinema_days.business_date
        ) as n_presale_days_loaded,
        count(event_pulls.business_date) filter (
            where event_pulls.business_date = cinema_days.business_date + 1
        ) > 0 as is_next_day_loaded,
    from cinema_days
    left join event_pulls
        on cinema_days.cinema_id = event_pulls.cinema_id
        and event_pulls.business_date between cinema_days.business_date - {{ horizon }}
            and cinema_days.business_date + 1
    group by cinema_days.cinema_id, cinema_days.business_date
),

quarantine_totals as (
    select
        cinema_id,
        session_date as business_date,
        count(*) filter (where dataset = 'ticket_events') as n_quarantined_events,
        count(*) filter (where dataset = 'sessions') as n_quarantined_sessions,
        sum(gross_kzt_claimed) as quarantined_gross_kzt_claimed,
    from quarantined
    group by cinema_id, session_date
),

final as (
    select
        cinema_days.cinema_id,
        cinema_days.business_date,
        cinema_days.region_code,
        cinema_days.reporting_state,
        cinema_days.is_reported,
        cast(loaded_event_days.n_presale_days_loaded as integer) as n_presale_days_loaded,
        loaded_event_days.n_presale_days_loaded >= {{ horizon }} as is_presales_loaded,
        loaded_event_days.is_next_day_loaded,
        cast(coalesce(quarantine_totals.n_quarantined_events, 0) as bigint) as n_quarantined_events,
        cast(coalesce(quarantine_totals.n_quarantined_sessions, 0) as bigint) as n_quarantined_sessions,
        cast(coalesce(quarantine_totals.quarantined_gross_kzt_claimed, 0) as decimal(18, 2))
            as quarantined_gross_kzt_claimed,
    from cinema_days
    inner join loaded_event_days
        on cinema_days.cinema_id = loaded_event_days.cinema_id
        and cinema_days.business_date = loaded_event_days.business_date
    left join quarantine_totals
        on cinema_days.cinema_id = quarantine_totals.cinema_id
        and cinema_days.business_date = quarantine_totals.business_date
)

select * from final
