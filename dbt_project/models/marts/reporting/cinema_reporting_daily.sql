{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='business_date',
        pre_hook="{{ clear_session_window() }}",
        on_schema_change='fail',
    )
}}

{#- Reporting is about what a cinema sent for a day, so figures here are by the day events occurred
    (unlike the box office marts, which count by the session's day), and so is the quarantine. -#}

with

cinema_days as (
    select * from {{ ref('int_cinema_days_reported') }}
    where is_connected and {{ in_session_window('business_date') }}
),

events as (
    select * from {{ ref('stg_raw__ticket_events') }}
    where {{ in_session_window('event_date') }}
),

quarantined as (
    select * from {{ ref('stg_raw__quarantined_records') }}
    where dataset = 'ticket_events' and {{ in_session_window('business_date') }}
),

event_days as (
    select
        cinema_id,
        event_date as business_date,
        count(*) as n_events,
        count(*) filter (where is_sale) as n_sales,
        count(*) filter (where is_refund) as n_refunds,
        sum(case when is_refund then -amount_kzt else amount_kzt end) as gross_kzt,
        max(occurred_at) as last_event_at,
    from events
    group by cinema_id, event_date
),

-- The money quarantined events claim, where type and amount can be read.
quarantined_days as (
    select
        cinema_id,
        business_date,
        sum(claimed_gross_kzt) as quarantined_gross_kzt_claimed,
        count(*) filter (where claimed_amount_kzt is null or claimed_event_type not in ('sale', 'refund'))
            as n_quarantined_unreadable,
    from quarantined
    group by cinema_id, business_date
),

final as (
    select
        cinema_days.cinema_id,
        cinema_days.business_date,
        cinema_days.region_code,
        cinema_days.reporting_state,
        cinema_days.is_reported,
        cinema_days.sessions_status,
        cinema_days.ticket_events_status,
        cinema_days.n_sessions_landed,
        cast(coalesce(event_days.n_events, 0) as bigint) as n_events,
        cast(coalesce(event_days.n_sales, 0) as bigint) as n_sales,
        cast(coalesce(event_days.n_refunds, 0) as bigint) as n_refunds,
        cast(coalesce(event_days.gross_kzt, 0) as decimal(18, 2)) as gross_kzt,
        cinema_days.n_quarantined,
        cinema_days.n_sessions_quarantined,
        cinema_days.n_events_quarantined,
        cast(coalesce(quarantined_days.quarantined_gross_kzt_claimed, 0) as decimal(18, 2))
            as quarantined_gross_kzt_claimed,
        cast(coalesce(quarantined_days.n_quarantined_unreadable, 0) as bigint) as n_quarantined_unreadable,
        cinema_days.n_discarded_served,
        cinema_days.n_killed_attempts,
        event_days.last_event_at,
        cinema_days.error,
    from cinema_days
    left join event_days
        on cinema_days.cinema_id = event_days.cinema_id
        and cinema_days.business_date = event_days.business_date
    left join quarantined_days
        on cinema_days.cinema_id = quarantined_days.cinema_id
        and cinema_days.business_date = quarantined_days.business_date
)

select * from final
