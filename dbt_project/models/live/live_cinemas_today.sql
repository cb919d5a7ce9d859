with

state as (
    select * from {{ source('raw', 'live_state') }}
),

cinemas as (
    select * from {{ source('raw', 'live_cinema_status') }}
),

events as (
    select * from {{ ref('live_events_today') }}
),

quarantined as (
    select cinema_id, count(*) as quarantined_events
    from {{ source('raw', 'live_quarantine') }}
    where business_date = (select business_date from state)
    group by cinema_id
),

sold as (
    select
        cinema_id,
        sum(case when is_sale then amount_kzt else -amount_kzt end) as gross_kzt,
        count(*) filter (where is_sale) as sales,
        count(*) filter (where not is_sale) as refunds,
        count(distinct session_id) filter (where is_sale) as sessions_sold,
        max(occurred_at) as last_event_at,
    from events
    group by cinema_id
),

final as (
    select
        state.business_date,
        state.as_of,
        cinemas.cinema_id,
        cinemas.cinema_name,
        cinemas.region_code,
        cinemas.region_name,
        cinemas.is_connected,
        case
            when not cinemas.is_connected then 'not_connected'
            when cinemas.status is null then 'not_polled'
            when cinemas.status = 'success' then 'reporting'
            else 'failing'
        end as live_status,
        cinemas.is_connected and cinemas.status = 'success' as is_reporting,
        cinemas.error as last_error,
        cast(coalesce(sold.gross_kzt, 0) as decimal(18, 2)) as gross_kzt,
        cast(coalesce(sold.sales, 0) - coalesce(sold.refunds, 0) as bigint) as admissions,
        cast(coalesce(sold.sales, 0) as bigint) as sales,
        cast(coalesce(sold.refunds, 0) as bigint) as refunds,
        cast(coalesce(sold.sessions_sold, 0) as bigint) as sessions_sold,
        cast(coalesce(quarantined.quarantined_events, 0) as bigint) as quarantined_events,
        coalesce(sold.last_event_at, cinemas.last_event_at) as last_event_at,
        cinemas.last_polled_at,
        case when cinemas.is_connected then
            cast(epoch(state.as_of) - epoch(coalesce(sold.last_event_at, cinemas.last_event_at)) as bigint)
        end as lag_seconds,
        case when cinemas.is_connected then
            cast(epoch(state.as_of) - epoch(cinemas.last_polled_at) as bigint)
        end as feed_lag_seconds,
        true as is_provisional,
        ['live']::varchar[] as provisional_reasons,
    from cinemas
    cross join state
    left join sold on cinemas.cinema_id = sold.cinema_id
    left join quarantined on cinemas.cinema_id = quarantined.cinema_id
)

select * from final
