{#- Declared versus tracked, per cinema x film x film week: what the cinema declared it grossed against
    what its ticket events add up to by session day (the exchange's contract defines the declared return
    by the same rule). Only cinema-weeks whose declared returns were pulled appear: a week nobody asked
    the cinema about is no discrepancy. A cinema-week whose pull failed shows its tracked films, flagged
    by nothing and provisional (returns_not_pulled). -#}

{%- set tolerance_kzt = var('discrepancy_tolerance_kzt') %}
{%- set tolerance_pct = var('discrepancy_tolerance_pct') %}

with

pulls as (
    select * from {{ ref('stg_raw__declared_return_pulls') }}
),

returns as (
    select * from {{ ref('stg_raw__declared_returns') }}
),

sessions as (
    select * from {{ ref('int_sessions_aggregated') }}
),

completeness as (
    select * from {{ ref('int_session_days_completeness') }}
),

cinemas as (
    select * from {{ ref('stg_raw__cinemas') }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

declared as (
    select
        cinema_id,
        film_id,
        film_week_start,
        count(*) as n_returns,
        sum(admissions) as admissions,
        sum(gross_kzt) as gross_kzt,
        max(declared_at) as last_declared_at,
    from returns
    group by cinema_id, film_id, film_week_start
),

tracked as (
    select
        sessions.cinema_id,
        sessions.film_id,
        {{ film_week_start('sessions.business_date') }} as film_week_start,
        count(*) as n_sessions,
        sum(sessions.admissions) as admissions,
        sum(sessions.gross_kzt) as gross_kzt,
    from sessions
    inner join pulls
        on sessions.cinema_id = pulls.cinema_id
        and {{ film_week_start('sessions.business_date') }} = pulls.film_week_start
    group by all
),

-- The cinema's own completeness over the week's seven session days, in the flags provisional_reasons reads.
week_cover as (
    select
        pulls.cinema_id,
        pulls.film_week_start,
        case when count(completeness.business_date) > 0 then pulls.film_week_start end as business_date,
        count(completeness.business_date) as n_days_covered,
        coalesce(bool_or(completeness.reporting_state in ('failed', 'not_pulled')), false)
            as has_cinemas_missing,
        coalesce(bool_or(completeness.reporting_state = 'silent'), false) as has_cinemas_silent,
        coalesce(bool_or(not completeness.is_presales_loaded), false) as has_presales_not_loaded,
        coalesce(bool_or(not completeness.is_next_day_loaded), false) as has_late_sales_not_loaded,
        coalesce(bool_or(
            completeness.reporting_state = 'quarantined'
            or completeness.n_quarantined_events + completeness.n_quarantined_sessions > 0
        ), false) as has_records_quarantined,
    from pulls
    left join completeness
        on pulls.cinema_id = completeness.cinema_id
        and completeness.business_date between pulls.film_week_start and pulls.film_week_start + 6
    group by pulls.cinema_id, pulls.film_week_start
),

lines as (
    select
        coalesce(declared.cinema_id, tracked.cinema_id) as cinema_id,
        coalesce(declared.film_id, tracked.film_id) as film_id,
        coalesce(declared.film_week_start, tracked.film_week_start) as film_week_start,
        declared.n_returns,
        declared.admissions as declared_admissions,
        declared.gross_kzt as declared_gross_kzt,
        declared.last_declared_at,
        tracked.n_sessions,
        tracked.admissions as tracked_admissions,
        tracked.gross_kzt as tracked_gross_kzt,
    from declared
    full outer join tracked
        on declared.cinema_id = tracked.cinema_id
        and declared.film_id = tracked.film_id
        and declared.film_week_start = tracked.film_week_start
),

compared as (
    select
        lines.*,
        pulls.is_success as is_returns_pulled,
        pulls.n_quarantined as n_returns_quarantined,
        pulls.finished_at as returns_pulled_at,
        cast(coalesce(lines.declared_gross_kzt, 0) - coalesce(lines.tracked_gross_kzt, 0) as decimal(18, 2))
            as difference_kzt,
        coalesce(lines.declared_admissions, 0) - coalesce(lines.tracked_admissions, 0)
            as difference_admissions,
        -- The larger tolerance: a few tenge of a small film are rounding, a big film's 1% is not.
        cast(greatest(
            {{ tolerance_kzt }},
            {{ exact_ratio('coalesce(lines.tracked_gross_kzt, 0) * ' ~ tolerance_pct, '100', 2) }}
        ) as decimal(18, 2)) as tolerance_kzt,
    from lines
    inner join pulls
        on lines.cinema_id = pulls.cinema_id
        and lines.film_week_start = pulls.film_week_start
),

reasoned as (
    select
        compared.cinema_id,
        compared.film_id,
        compared.film_week_start,
        cinemas.region_code,
        films.title,
        case
            when compared.declared_gross_kzt is null then 'tracked_only'
            when compared.tracked_gross_kzt is null then 'declared_only'
            else 'both'
        end as presence,
        cast(compared.n_returns as integer) as n_returns,
        cast(compared.declared_admissions as bigint) as declared_admissions,
        cast(compared.declared_gross_kzt as decimal(18, 2)) as declared_gross_kzt,
        cast(coalesce(compared.n_sessions, 0) as integer) as n_sessions,
        cast(compared.tracked_admissions as bigint) as tracked_admissions,
        cast(compared.tracked_gross_kzt as decimal(18, 2)) as tracked_gross_kzt,
        compared.difference_kzt,
        cast(compared.difference_admissions as bigint) as difference_admissions,
        cast(
            {{ exact_ratio('compared.difference_kzt * 100', 'compared.tracked_gross_kzt', 2) }} as decimal(
                12, 2
            )
        )
            as difference_pct,
        compared.tolerance_kzt,
        compared.is_returns_pulled and abs(compared.difference_kzt) > compared.tolerance_kzt
            as is_discrepancy,
        case
            when not compared.is_returns_pulled or abs(compared.difference_kzt) <= compared.tolerance_kzt
                then null
            when compared.declared_gross_kzt is null then 'tracked_not_declared'
            when compared.tracked_gross_kzt is null then 'declared_not_tracked'
            when compared.difference_kzt < 0 then 'under_declared'
            else 'over_declared'
        end as discrepancy,
        compared.is_returns_pulled,
        cast(coalesce(compared.n_returns_quarantined, 0) as bigint) as n_returns_quarantined,
        cast(week_cover.n_days_covered as integer) as n_days_covered,
        {%- set exclusions = day_exclusions('week_cover', extra=[
            "case when week_cover.n_days_covered < 7 then 'days_not_covered' end",
            "case when compared.n_returns_quarantined > 0 then 'returns_quarantined' end",
        ]) %}
        -- Without the cinema's returns there is nothing to compare: provisional past closing.
        {{ closing_reasons('compared.film_week_start + 6', exclusions, holding=[
            "case when not compared.is_returns_pulled then 'returns_not_pulled' end",
        ]) }} as provisional_reasons,
        {{ exclusions }} as exclusions,
        compared.last_declared_at,
        compared.returns_pulled_at,
    from compared
    inner join week_cover
        on compared.cinema_id = week_cover.cinema_id
        and compared.film_week_start = week_cover.film_week_start
    left join cinemas
        on compared.cinema_id = cinemas.cinema_id
    left join films
        on compared.film_id = films.film_id
),

final as (
    select
        cinema_id,
        film_id,
        film_week_start,
        region_code,
        title,
        presence,
        n_returns,
        declared_admissions,
        declared_gross_kzt,
        n_sessions,
        tracked_admissions,
        tracked_gross_kzt,
        difference_kzt,
        difference_admissions,
        difference_pct,
        tolerance_kzt,
        is_discrepancy,
        discrepancy,
        is_returns_pulled,
        n_returns_quarantined,
        n_days_covered,
        len(provisional_reasons) > 0 as is_provisional,
        provisional_reasons,
        exclusions,
        last_declared_at,
        returns_pulled_at,
    from reasoned
)

select * from final
