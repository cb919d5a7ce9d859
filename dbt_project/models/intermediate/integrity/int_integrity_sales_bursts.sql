{#- Bursts of sales: a session bought out within seconds. Each session's busiest minute of sales
    (int_integrity_sessions), as a share of its hall's seats, against the busiest minutes of the nation's
    sessions and of the cinema's other films over the integrity history: a burst sells
    integrity_burst_factor times the share 99% of sessions sell in their busiest minute, in the nation
    and at the cinema (a 99th percentile stays put while bursts are fewer than one session in a
    hundred). Per cinema x film x film week, one burst is a finding; its score is the busiest minute
    over that fence. Its money: the gross of the sessions it names. -#}

with

sessions as (
    select
        *,
        peak_minute_sales / hall_seats as peak_share,
    from {{ ref('int_integrity_sessions') }}
    where peak_minute_sales > 0 and hall_seats > 0
),

nation as (
    select quantile_cont(peak_share, 0.99) as busiest
    from sessions
),

weeks as (
    select distinct
        cinema_id,
        film_id,
        film_week_start,
    from sessions
    where {{ in_film_week_window('film_week_start') }}
),

-- The cinema's other films: a cinema bursting every day of a week is not its own norm.
cinemas as (
    select
        weeks.cinema_id,
        weeks.film_id,
        weeks.film_week_start,
        quantile_cont(sessions.peak_share, 0.99) as busiest,
    from weeks
    inner join sessions
        on weeks.cinema_id = sessions.cinema_id
        and weeks.film_id <> sessions.film_id
    group by all
),

judged as (
    select
        sessions.*,
        {{ var('integrity_burst_factor') }} * greatest(nation.busiest, coalesce(cinemas.busiest, 0)) as fence,
    from sessions
    cross join nation
    left join cinemas
        on sessions.cinema_id = cinemas.cinema_id
        and sessions.film_id = cinemas.film_id
        and sessions.film_week_start = cinemas.film_week_start
    where {{ in_film_week_window('sessions.film_week_start') }}
),

bursts as (
    select
        judged.*,
        judged.peak_share > judged.fence as is_burst,
    from judged
),

cells as (
    select
        cinema_id,
        region_code,
        film_id,
        film_week_start,
        count(*) as n_week_sessions,
        count(*) filter (where is_burst) as n_bursts,
        max(peak_minute_sales) as peak_minute_sales,
        max(peak_share) as peak_share,
        max(fence) as fence,
        max(peak_share / fence) as ratio,
        sum(n_tickets_sold) filter (where is_burst) as n_tickets,
        sum(gross_kzt) filter (where is_burst) as money_kzt,
        list(session_id order by starts_at, session_id) filter (where is_burst) as session_ids,
    from bursts
    group by all
),

final as (
    select
        'sales_burst' as rule,
        cinema_id,
        region_code,
        film_id,
        film_week_start,
        cast(null as varchar) as detail,
        peak_share as observed,
        fence as expected,
        ratio as score,
        1.0 as threshold,
        n_bursts > 0 as is_finding,
        true as is_judged,
        cast(n_bursts as integer) as n_sessions,
        cast(coalesce(n_tickets, 0) as bigint) as n_tickets,
        coalesce(session_ids, []::varchar[]) as session_ids,
        cast(coalesce(money_kzt, 0) as decimal(18, 2)) as money_kzt,
        printf(
            '%d of %d sessions sold up to %d tickets (%.0f%% of the hall) within a minute; a '
            || 'burst sells more than %.1f%%, {{ var('integrity_burst_factor') }} times the busiest '
            || 'minute of 99%% of sessions here and in the nation',
            n_bursts, n_week_sessions, peak_minute_sales, 100 * peak_share, 100 * fence
        ) as evidence,
    from cells
)

select * from final
