with

cinemas as (
    select * from {{ ref('live_cinemas_today') }}
),

scoped as (
    select 'national' as scope, null::varchar as region_code, null::varchar as region_name, *
    exclude (region_code, region_name),
    from cinemas
    union all by name
    select 'region' as scope, *
    from cinemas
),

final as (
    select
        any_value(business_date) as business_date,
        any_value(as_of) as as_of,
        scope,
        region_code,
        any_value(region_name) as region_name,
        cast(sum(gross_kzt) as decimal(18, 2)) as gross_kzt,
        cast(sum(admissions) as bigint) as admissions,
        cast(sum(sales) as bigint) as sales,
        cast(sum(refunds) as bigint) as refunds,
        cast(sum(sessions_sold) as bigint) as sessions_sold,
        cast(sum(quarantined_events) as bigint) as quarantined_events,
        cast(count(*) filter (where is_reporting) as integer) as cinemas_reporting,
        cast(count(*) filter (where is_connected) as integer) as cinemas_connected,
        cast(count(*) as integer) as cinemas_total,
        max(last_event_at) as last_event_at,
        max(lag_seconds) as max_lag_seconds,
        max(feed_lag_seconds) as max_feed_lag_seconds,
        true as is_provisional,
        list_filter(
            [
                'live',
                case
                    when count(*) filter (where is_connected and not is_reporting) > 0 then 'cinemas_missing'
                end,
                case when sum(quarantined_events) > 0 then 'records_quarantined' end,
            ]::varchar[],
            lambda reason: reason is not null
        ) as provisional_reasons,
    from scoped
    group by scope, region_code
)

select * from final
