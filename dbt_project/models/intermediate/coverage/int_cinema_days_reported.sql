{#- The reporting state of every registered cinema on every business day the pipeline ran for, from its
    two pulls of the day (sessions and ticket events), the same rule the landing asset, its check and the
    silent-cinema sensor apply:
      not_pulled   a pull of the day is missing
      failed       a pull of the day failed
      quarantined  both succeeded, no event landed and records were quarantined (a whole-feed quarantine)
      silent       both succeeded, no event and nothing quarantined while sessions were scheduled
      no_sessions  both succeeded, no session and no event (closed that day: its zero is true)
      reported     both succeeded and events landed
    A cinema is reporting when it reported or had no sessions. The days are those of a registry
    snapshot (every day a partition ran) and those both datasets were pulled for: ticket events pulled
    only for the presale lookback, or sessions listed ahead, make no reporting day. -#}

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
        cast(coalesce(sum(n_landed) filter (where dataset = 'sessions'), 0) as bigint) as n_sessions_landed,
        cast(coalesce(sum(n_landed) filter (where dataset = 'ticket_events'), 0) as bigint)
            as n_events_landed,
        cast(
            coalesce(sum(n_quarantined) filter (where dataset = 'sessions'), 0) as bigint
        ) as n_sessions_quarantined,
        cast(
            coalesce(sum(n_quarantined) filter (where dataset = 'ticket_events'), 0) as bigint
        ) as n_events_quarantined,
        cast(coalesce(sum(n_discarded_served), 0) as bigint) as n_discarded_served,
        cast(coalesce(sum(n_killed_attempts), 0) as bigint) as n_killed_attempts,
        max(last_record_at) filter (where dataset = 'ticket_events') as last_event_at,
        string_agg(dataset || ': ' || error, '; ' order by dataset) filter (where not is_success) as error,
    from manifests
    group by cinema_id, business_date
),

pulled_days as (
    select business_date
    from manifests
    group by business_date
    having count(*) filter (where dataset = 'sessions') > 0
        and count(*) filter (where dataset = 'ticket_events') > 0
),

days as (
    select business_date from cinema_days
    union
    select business_date from pulled_days
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
        coalesce(pulls.n_sessions_quarantined, 0) as n_sessions_quarantined,
        coalesce(pulls.n_events_quarantined, 0) as n_events_quarantined,
        coalesce(pulls.n_discarded_served, 0) as n_discarded_served,
        coalesce(pulls.n_killed_attempts, 0) as n_killed_attempts,
        pulls.last_event_at,
        pulls.error,
    from cinema_days
    full outer join pulls
        on cinema_days.cinema_id = pulls.cinema_id
        and cinema_days.business_date = pulls.business_date
    left join cinemas
        on coalesce(cinema_days.cinema_id, pulls.cinema_id) = cinemas.cinema_id
    where coalesce(cinema_days.business_date, pulls.business_date) in (select business_date from days)
),

stated as (
    select
        *,
        case
            when not is_connected then 'not_connected'
            when sessions_status is null or ticket_events_status is null then 'not_pulled'
            when sessions_status <> 'success' or ticket_events_status <> 'success' then 'failed'
            when n_events_landed > 0 then 'reported'
            when n_events_quarantined > 0 or (n_sessions_quarantined > 0 and n_sessions_landed = 0)
                then 'quarantined'
            when n_sessions_landed > 0 then 'silent'
            else 'no_sessions'
        end as reporting_state,
    from registered
),

final as (
    select
        *,
        reporting_state in ('reported', 'no_sessions') as is_reported,
        cast(n_sessions_quarantined + n_events_quarantined as bigint) as n_quarantined,
    from stated
)

select * from final
