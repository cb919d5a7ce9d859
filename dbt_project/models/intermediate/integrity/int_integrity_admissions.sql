{#- Admissions per session against the hall and the film's national curve (padding that stops short of
    sold out). Per cinema x film x film week x hour band: the tickets its sessions sold against their
    seats, and the occupancy expected of them, the larger of the film's own in that band and week at
    the nation's other cinemas and the band's at the cinema for its other films over the integrity
    history. The log ratio, times the square root of the sessions (a mean of n sessions wanders less
    than one), is a finding when it stands integrity_robust_z robust deviations above the nation's
    cells of the band. Its money: the gross of the sessions it names. -#}

with

sessions as (
    select * from {{ ref('int_integrity_sessions') }}
    -- A session selling more tickets than its hall has seats is the anomalies mart's (oversold_session).
    where hall_seats > 0 and n_tickets_sold <= hall_seats
),

cells as (
    select
        cinema_id,
        region_code,
        film_id,
        film_week_start,
        hour_band,
        count(*) as n_sessions,
        sum(n_tickets_sold) as n_tickets,
        sum(hall_seats) as n_seats,
        sum(gross_kzt) as money_kzt,
        list(session_id order by starts_at, session_id) as session_ids,
    from sessions
    group by all
),

-- Medians over cinemas (and over the cinema's films and weeks): a few cinemas padding the same film, or
-- a cinema padding one film, do not move them.
film_weeks as (
    select
        film_id,
        film_week_start,
        hour_band,
        median(n_tickets / n_seats) as occupancy,
    from cells
    group by all
),

cinema_bands as (
    select
        cinema_id,
        hour_band,
        median(n_tickets / n_seats) as occupancy,
    from cells
    group by all
),

expected as (
    select
        cells.*,
        film_weeks.occupancy as film_occupancy,
        cinema_bands.occupancy as cinema_occupancy,
    from cells
    inner join film_weeks
        on cells.film_id = film_weeks.film_id
        and cells.film_week_start = film_weeks.film_week_start
        and cells.hour_band = film_weeks.hour_band
    inner join cinema_bands
        on cells.cinema_id = cinema_bands.cinema_id
        and cells.hour_band = cinema_bands.hour_band
),

ratios as (
    select
        expected.*,
        coalesce(greatest(film_occupancy, cinema_occupancy), film_occupancy, cinema_occupancy)
            as expected_occupancy,
        sqrt(n_sessions) * ln(
            (n_tickets + 1.0)
            / (
                n_seats
                * coalesce(greatest(film_occupancy, cinema_occupancy), film_occupancy, cinema_occupancy)
                + 1
            )
        ) as log_ratio,
    from expected
    where coalesce(film_occupancy, cinema_occupancy) is not null
),

band_norms as (
    select
        hour_band,
        median(log_ratio) as median_log_ratio,
        mad(log_ratio) as mad_log_ratio,
    from ratios
    group by hour_band
),

scored as (
    select
        ratios.*,
        {{ robust_z('ratios.log_ratio', 'band_norms.median_log_ratio', 'band_norms.mad_log_ratio') }} as z,
    from ratios
    inner join band_norms
        on ratios.hour_band = band_norms.hour_band
    where {{ in_film_week_window('ratios.film_week_start') }}
),

final as (
    select
        'session_admissions' as rule,
        cinema_id,
        region_code,
        film_id,
        film_week_start,
        hour_band as detail,
        n_tickets * 1.0 / n_seats as observed,
        expected_occupancy as expected,
        z as score,
        {{ var('integrity_robust_z') }} * 1.0 as threshold,
        z >= {{ var('integrity_robust_z') }} as is_finding,
        true as is_judged,
        cast(n_sessions as integer) as n_sessions,
        cast(n_tickets as bigint) as n_tickets,
        session_ids,
        cast(money_kzt as decimal(18, 2)) as money_kzt,
        printf(
            '%d %s sessions sold %d tickets for %d seats (%.0f%%); expected %.0f%% (the film''s '
            || 'national median %s, the cinema''s median %s)',
            n_sessions, hour_band, n_tickets, n_seats, 100.0 * n_tickets / n_seats, 100 * expected_occupancy,
            coalesce(printf('%.0f%%', 100 * film_occupancy), 'unknown'),
            coalesce(printf('%.0f%%', 100 * cinema_occupancy), 'unknown')
        ) as evidence,
    from scored
)

select * from final
