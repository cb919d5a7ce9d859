{#- The current reporting status of every cinema in the registry, judged on the latest business day
    ticket events were pulled for, with the states of int_cinema_days_reported. -#}

with

cinemas as (
    select * from {{ ref('stg_raw__cinemas') }}
),

cinema_days as (
    select * from {{ ref('int_cinema_days_reported') }}
),

latest as (
    select max(business_date) as last_day_checked
    from cinema_days
    where ticket_events_status is not null
),

history as (
    select
        cinema_id,
        max(business_date) filter (where is_reported) as last_reported_date,
        max(last_event_at) as last_event_at,
        arg_max(error, business_date) filter (where error is not null) as last_error,
    from cinema_days
    group by cinema_id
),

on_last_day as (
    select cinema_days.*
    from cinema_days
    inner join latest
        on cinema_days.business_date = latest.last_day_checked
),

final as (
    select
        cinemas.cinema_id,
        cinemas.cinema_name,
        cinemas.region_code,
        cinemas.is_connected,
        latest.last_day_checked,
        case
            when not cinemas.is_connected then 'not_connected'
            else coalesce(on_last_day.reporting_state, 'not_pulled')
        end as status,
        history.last_reported_date,
        cast(latest.last_day_checked - history.last_reported_date as integer) as days_since_last_report,
        history.last_event_at,
        on_last_day.error as error_on_last_day,
        history.last_error,
    from cinemas
    cross join latest
    left join history
        on cinemas.cinema_id = history.cinema_id
    left join on_last_day
        on cinemas.cinema_id = on_last_day.cinema_id
)

select * from final
