{{ config(materialized='table') }}

{#- Every session of the integrity history (macros/integrity.sql) with what the checks read: its film
    week, local start hour and band, how full its hall was, its sales by category, its busiest minute
    of sales, and the screening before it in the same hall. A session overlaps when it starts before
    the previous screening in its hall has run its film's registered runtime; when that previous
    screening itself overlapped the one before, the later overlap is the phantom's doing and is not
    counted again. Without the previous film's runtime the overlap cannot be judged. Built whole on
    every run: only the window's history, and a scratch table the checks share. -#}

with

sessions as (
    select * from {{ ref('int_sessions_aggregated') }}
    where {{ in_integrity_history('business_date') }}
),

listed as (
    select
        session_id,
        utc_offset_minutes,
    from {{ ref('stg_raw__sessions') }}
    where {{ in_integrity_history('session_date') }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

sales as (
    select * from {{ ref('int_ticket_events_attributed') }}
    where is_sale
        and session_id in (select sessions.session_id from sessions)
),

by_category as (
    select
        session_id,
        count(*) filter (where category = 'adult') as n_full_price,
        count(*) filter (where category <> 'adult') as n_concessions,
    from sales
    group by session_id
),

-- Sales per minute, counted twice with buckets half a minute apart, so a burst astride two minutes is
-- still seen whole.
minutes as (
    select
        session_id,
        floor(epoch(occurred_at) / 60) as bucket,
        count(*) as n_sales,
    from sales
    group by all
    union all
    select
        session_id,
        floor((epoch(occurred_at) + 30) / 60) + 0.5 as bucket,
        count(*) as n_sales,
    from sales
    group by all
),

peaks as (
    select
        session_id,
        max(n_sales) as peak_minute_sales,
    from minutes
    group by session_id
),

placed as (
    select
        sessions.session_id,
        sessions.business_date,
        {{ film_week_start('sessions.business_date') }} as film_week_start,
        sessions.cinema_id,
        sessions.region_code,
        sessions.hall_id,
        sessions.film_id,
        sessions.starts_at,
        sessions.format,
        hour(timezone('UTC', sessions.starts_at) + to_minutes(coalesce(listed.utc_offset_minutes, 0)))
            as local_hour,
        sessions.hall_seats,
        sessions.n_tickets_sold,
        sessions.admissions,
        sessions.gross_kzt,
        coalesce(by_category.n_full_price, 0) as n_full_price,
        coalesce(by_category.n_concessions, 0) as n_concessions,
        coalesce(peaks.peak_minute_sales, 0) as peak_minute_sales,
        films.runtime_minutes,
        lag(sessions.session_id) over hall as previous_session_id,
        lag(sessions.starts_at) over hall as previous_starts_at,
        lag(films.runtime_minutes) over hall as previous_runtime_minutes,
    from sessions
    left join listed
        on sessions.session_id = listed.session_id
    left join films
        on sessions.film_id = films.film_id
    left join by_category
        on sessions.session_id = by_category.session_id
    left join peaks
        on sessions.session_id = peaks.session_id
    window hall as (partition by sessions.hall_id order by sessions.starts_at, sessions.session_id)
),

overlapping as (
    select
        placed.*,
        {{ hour_band('placed.local_hour') }} as hour_band,
        placed.hall_seats > 0
        and placed.n_tickets_sold >= ceil({{ var('integrity_sold_out_share') }} * placed.hall_seats)
            as is_sold_out,
        -- Minutes the session started before the previous screening in the hall could have ended.
        case
            when placed.previous_starts_at is not null
                then placed.previous_runtime_minutes
                - date_diff('minute', placed.previous_starts_at, placed.starts_at)
        end as overlap_minutes,
    from placed
),

final as (
    select
        overlapping.*,
        coalesce(overlapping.overlap_minutes > 0, false)
        and not coalesce(lag(overlapping.overlap_minutes > 0) over hall, false) as is_overlapping,
        overlapping.previous_session_id is not null
        and overlapping.previous_runtime_minutes is null as is_overlap_not_judged,
    from overlapping
    window hall as (partition by overlapping.hall_id order by overlapping.starts_at, overlapping.session_id)
)

select * from final
