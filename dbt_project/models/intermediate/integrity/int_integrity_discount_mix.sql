{#- The discount mix against the cinema's own history (every ticket at full price is how a padded
    admission or a ghost screening is sold). Per cinema x film x film week: the share of its sales at a
    concession (child, student, senior) or by invitation, against the smaller of the cinema's share for
    its other weeks and films over the integrity history and the film's share at the nation's other
    cinemas (a family film draws more children anywhere). The shortfall in binomial standard deviations
    is scored robustly against the nation's cells; integrity_robust_z is a finding. Its money: the gross
    of the film's sessions at the cinema that week. -#}

with

sessions as (
    select * from {{ ref('int_integrity_sessions') }}
),

cells as (
    select
        cinema_id,
        region_code,
        film_id,
        film_week_start,
        count(*) as n_sessions,
        sum(n_full_price + n_concessions) as n_sales,
        sum(n_concessions) as n_concessions,
        sum(n_tickets_sold) as n_tickets,
        sum(gross_kzt) as money_kzt,
        list(session_id order by starts_at, session_id) as session_ids,
    from sessions
    group by all
    having sum(n_full_price + n_concessions) > 0
),

cinema_mix as (
    select
        cinema_id,
        sum(n_sales) as n_sales,
        sum(n_concessions) as n_concessions,
    from cells
    group by cinema_id
),

cinema_film_mix as (
    select
        cinema_id,
        film_id,
        sum(n_sales) as n_sales,
        sum(n_concessions) as n_concessions,
    from cells
    group by all
),

film_mix as (
    select
        film_id,
        sum(n_sales) as n_sales,
        sum(n_concessions) as n_concessions,
    from cells
    group by film_id
),

expected as (
    select
        cells.*,
        (cinema_mix.n_concessions - cells.n_concessions)
        / nullif(cinema_mix.n_sales - cells.n_sales, 0) as cinema_share,
        (film_mix.n_concessions - cinema_film_mix.n_concessions)
        / nullif(film_mix.n_sales - cinema_film_mix.n_sales, 0) as film_share,
    from cells
    inner join cinema_mix
        on cells.cinema_id = cinema_mix.cinema_id
    inner join cinema_film_mix
        on cells.cinema_id = cinema_film_mix.cinema_id
        and cells.film_id = cinema_film_mix.film_id
    inner join film_mix
        on cells.film_id = film_mix.film_id
),

shortfalls as (
    select
        expected.*,
        coalesce(least(cinema_share, film_share), cinema_share, film_share) as expected_share,
        (
            n_sales * coalesce(least(cinema_share, film_share), cinema_share, film_share) - n_concessions
        ) / sqrt(greatest(
            n_sales
            * coalesce(least(cinema_share, film_share), cinema_share, film_share)
            * (1 - coalesce(least(cinema_share, film_share), cinema_share, film_share)),
            1
        )) as shortfall,
    from expected
    where coalesce(cinema_share, film_share) is not null
),

norms as (
    select
        median(shortfall) as median_shortfall,
        mad(shortfall) as mad_shortfall,
    from shortfalls
),

scored as (
    select
        shortfalls.*,
        {{ robust_z('shortfalls.shortfall', 'norms.median_shortfall', 'norms.mad_shortfall', '0.1') }} as z,
    from shortfalls
    cross join norms
    where {{ in_film_week_window('shortfalls.film_week_start') }}
),

final as (
    select
        'discount_mix' as rule,
        cinema_id,
        region_code,
        film_id,
        film_week_start,
        cast(null as varchar) as detail,
        n_concessions * 1.0 / n_sales as observed,
        expected_share as expected,
        z as score,
        {{ var('integrity_robust_z') }} * 1.0 as threshold,
        z >= {{ var('integrity_robust_z') }} as is_finding,
        true as is_judged,
        cast(n_sessions as integer) as n_sessions,
        cast(n_tickets as bigint) as n_tickets,
        session_ids,
        cast(money_kzt as decimal(18, 2)) as money_kzt,
        printf(
            '%d of %d tickets at a concession or by invitation (%.1f%%); expected %.1f%% (the '
            || 'cinema otherwise %s, the film elsewhere %s)',
            n_concessions, n_sales, 100.0 * n_concessions / n_sales, 100 * expected_share,
            coalesce(printf('%.1f%%', 100 * cinema_share), 'unknown'),
            coalesce(printf('%.1f%%', 100 * film_share), 'unknown')
        ) as evidence,
    from scored
)

select * from final
