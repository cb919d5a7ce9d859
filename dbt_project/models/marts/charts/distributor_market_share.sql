{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['period', 'period_start_date'],
        pre_hook="{{ clear_market_share_window() }}",
        post_hook="{{ refresh_provisional_flags('period_end_date') }}",
        on_schema_change='fail',
    )
}}

{#- Shares are rounded each on its own, half away from zero to 4 decimals (macros/exact_ratio.sql), so
    a period's shares sum to 1 within 0.00005 per distributor; total_gross_kzt gives the exact base. A
    year's row is its year to date on the last tracked day. -#}

with

film_weeks as (
    select * from {{ ref('film_weekly_box_office') }}
    where {{ chart_periods_rebuilt('film_week_end') }}
),

film_years as (
    select * from {{ ref('film_year_to_date') }}
    where {{ chart_years_read('through_date') }}
),

weekly as (
    select
        'film_week' as period,
        film_week_start as period_start_date,
        film_week_end as period_end_date,
        coalesce(distributor, 'unknown') as distributor,
        sum(gross_kzt) as gross_kzt,
        sum(admissions) as admissions,
        count(*) as n_films,
        -- The same for every film of the week: they describe the nation's days.
        any_value(days_covered) as days_covered,
        any_value(days_in_period) as days_in_period,
        any_value(provisional_reasons) as provisional_reasons,
        any_value(exclusions) as exclusions,
    from film_weeks
    group by film_week_start, film_week_end, coalesce(distributor, 'unknown')
),

last_tracked_days as (
    select
        calendar_year,
        max(through_date) as through_date,
    from film_years
    group by calendar_year
),

yearly as (
    select
        'year' as period,
        make_date(film_years.calendar_year, 1, 1) as period_start_date,
        film_years.through_date as period_end_date,
        coalesce(film_years.distributor, 'unknown') as distributor,
        sum(film_years.ytd_gross_kzt) as gross_kzt,
        sum(film_years.ytd_admissions) as admissions,
        count(*) as n_films,
        any_value(film_years.days_covered) as days_covered,
        any_value(film_years.days_in_period) as days_in_period,
        any_value(film_years.provisional_reasons) as provisional_reasons,
        any_value(film_years.exclusions) as exclusions,
    from film_years
    inner join last_tracked_days
        on film_years.through_date = last_tracked_days.through_date
    group by film_years.calendar_year, film_years.through_date, coalesce(film_years.distributor, 'unknown')
),

periods as (
    select * from weekly
    union all by name
    select * from yearly
),

totalled as (
    select
        *,
        sum(gross_kzt) over whole_period as total_gross_kzt,
        sum(admissions) over whole_period as total_admissions,
        rank()
            over (partition by period, period_start_date order by gross_kzt desc, admissions desc)
            as share_rank,
    from periods
    window whole_period as (partition by period, period_start_date)
),

final as (
    select
        period,
        period_start_date,
        period_end_date,
        distributor,
        cast(gross_kzt as decimal(18, 2)) as gross_kzt,
        cast(admissions as bigint) as admissions,
        cast(n_films as integer) as n_films,
        cast({{ exact_ratio('gross_kzt', 'total_gross_kzt', 4) }} as decimal(9, 4)) as gross_share,
        cast({{ exact_ratio('admissions', 'total_admissions', 4) }} as decimal(9, 4)) as admissions_share,
        cast(share_rank as integer) as share_rank,
        cast(total_gross_kzt as decimal(18, 2)) as total_gross_kzt,
        cast(total_admissions as bigint) as total_admissions,
        cast(days_covered as integer) as days_covered,
        cast(days_in_period as integer) as days_in_period,
        len(provisional_reasons) > 0 as is_provisional,
        provisional_reasons,
        exclusions,
    from totalled
)

select * from final
