{#- Sold-out sessions by hour band (padded admissions: Korea's late-night and dawn sessions marked sold
    out). Per cinema x film x film week x band: how many of the film's sessions sold out, against the
    rate the band sells out at in the cinema's other films and in the nation's other cinemas over the
    integrity history: the nation's with one sold-out session added (a rate learnt from nothing is not
    zero), the cinema's starting from one session at the nation's rate (a cinema with few late
    sessions has the nation's norm). The larger of the two norms is expected; the finding is a count the Poisson law makes improbable
    (integrity_max_p_value). Its money: the gross of the sold-out sessions it names. -#}

with

-- A session selling more tickets than its hall has seats is the anomalies mart's (oversold_session).
sessions as (
    select * from {{ ref('int_integrity_sessions') }}
    where n_tickets_sold <= hall_seats
),

cells as (
    select
        cinema_id,
        region_code,
        film_id,
        film_week_start,
        hour_band,
        count(*) as n_sessions,
        count(*) filter (where is_sold_out) as n_sold_out,
        sum(n_tickets_sold) filter (where is_sold_out) as n_tickets,
        sum(gross_kzt) filter (where is_sold_out) as money_kzt,
        list(session_id order by starts_at, session_id) filter (where is_sold_out) as session_ids,
    from sessions
    group by all
),

cinema_bands as (
    select
        cinema_id,
        hour_band,
        count(*) as n_sessions,
        count(*) filter (where is_sold_out) as n_sold_out,
    from sessions
    group by all
),

nation_bands as (
    select
        hour_band,
        count(*) as n_sessions,
        count(*) filter (where is_sold_out) as n_sold_out,
    from sessions
    group by all
),

normed as (
    select
        cells.*,
        (nation_bands.n_sold_out - cinema_bands.n_sold_out + 1.0)
        / (nation_bands.n_sessions - cinema_bands.n_sessions + 1) as nation_rate,
        (
            cinema_bands.n_sold_out - cells.n_sold_out
            + (nation_bands.n_sold_out - cinema_bands.n_sold_out + 1.0)
            / (nation_bands.n_sessions - cinema_bands.n_sessions + 1)
        ) / (cinema_bands.n_sessions - cells.n_sessions + 1) as cinema_rate,
    from cells
    inner join cinema_bands
        on cells.cinema_id = cinema_bands.cinema_id
        and cells.hour_band = cinema_bands.hour_band
    inner join nation_bands
        on cells.hour_band = nation_bands.hour_band
    where {{ in_film_week_window('cells.film_week_start') }}
),

tested as (
    select
        normed.*,
        greatest(normed.cinema_rate, normed.nation_rate) as expected_rate,
        case
            when normed.n_sold_out > 0
                then least(1.0, {{ poisson_upper_tail(
                    'normed.n_sold_out', 'normed.n_sessions * greatest(normed.cinema_rate, normed.nation_rate)'
                ) }})
            else 1.0
        end as p_value,
    from normed
),

final as (
    select
        'sold_out_share' as rule,
        cinema_id,
        region_code,
        film_id,
        film_week_start,
        hour_band as detail,
        n_sold_out * 1.0 / n_sessions as observed,
        expected_rate as expected,
        -log10(greatest(p_value, 1e-300)) as score,
        -log10({{ var('integrity_max_p_value') }}) as threshold,
        p_value <= {{ var('integrity_max_p_value') }} as is_finding,
        true as is_judged,
        cast(n_sold_out as integer) as n_sessions,
        cast(coalesce(n_tickets, 0) as bigint) as n_tickets,
        coalesce(session_ids, []::varchar[]) as session_ids,
        cast(coalesce(money_kzt, 0) as decimal(18, 2)) as money_kzt,
        printf(
            '%d of %d %s sessions sold out (%.0f%%); the band sells out %.2f%% of sessions at the '
            || 'cinema, %.2f%% in the nation',
            n_sold_out, n_sessions, hour_band, 100.0 * n_sold_out / n_sessions,
            100 * cinema_rate, 100 * nation_rate
        ) as evidence,
    from tested
)

select * from final
