{#- A cinema reported a business day when it was connected and both its sessions and its ticket events
    for that day landed successfully; a successful pull with no events still counts (nothing sold). -#}

with

cinema_days as (
    select * from {{ ref('stg_raw__cinema_days') }}
),

manifests as (
    select * from {{ ref('stg_raw__landing_manifests') }}
),

cinemas as (
    select * from {{ ref('stg_raw__cinemas') }}
),

pulls as (
    select
        cinema_id,
        business_date,
        any_value(status) filter (where dataset = 'sessions') as sessions_status,
        any_value(status) filter (where dataset = 'ticket_events') as ticket_events_status,
        coalesce(sum(n_landed) filter (where dataset = 'sessions'), 0) as n_sessions_landed,
        coalesce(sum(n_landed) filter (where dataset = 'ticket_events'), 0) as n_events_landed,
        coalesce(sum(n_quarantined), 0) as n_quarantined,
        max(last_record_at) filter (where dataset = 'ticket_events') as last_event_at,
        string_agg(dataset || ': ' || error, '; ' order by dataset) filter (where not is_success) as error,
    from manifests
    group by cinema_id, business_date
),

-- A day whose registry snapshot is missing still counts the cinemas that were pulled.
registered as (
    select
        coalesce(cinema_days.business_date, pulls.business_date) as business_date,
        coalesce(cinema_days.cinema_id, pulls.cinema_id) as cinema_id,
        coalesce(cinema_days.region_code, cinemas.region_code) as region_code,
        coalesce(cinema_days.is_connected, true) as is_connected,
        pulls.sessions_status,
        pulls.ticket_events_status,
        coalesce(pulls.n_sessions_landed, 0) as n_sessions_landed,
        coalesce(pulls.n_events_landed, 0) as n_events_landed,
        coalesce(pulls.n_quarantined, 0) as n_quarantined,
        pulls.last_event_at,
        pulls.error,
    from cinema_days
    full outer join pulls
        on cinema_days.cinema_id = pulls.cinema_id
        and cinema_days.business_date = pulls.business_date
    left join cinemas
        on coalesce(cinema_days.cinema_id, pulls.cinema_id) = cinemas.cinema_id
),

final as (
    select
        *,
        coalesce(
            is_connected and sessions_status = 'success' and ticket_events_status = 'success', false
        ) as is_reported,
    from registered
)

select * from final
