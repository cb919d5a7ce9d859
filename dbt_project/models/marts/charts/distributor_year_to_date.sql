{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='through_date',
        pre_hook="{{ clear_session_window('through_date', open_ended=true) }}",
        post_hook="{{ refresh_provisional_flags('through_date') }}",
        on_schema_change='fail',
    )
}}

{#- The distributors' year to date is the sum of their films' (film_year_to_date); a film the registry
    snapshot does not know yet counts under distributor 'unknown', so the distributors add up to the
    nation. -#}

with

film_days as (
    select * from {{ ref('film_year_to_date') }}
    where {{ in_session_window('through_date', open_ended=true) }}
),

distributor_days as (
    select
        coalesce(distributor, 'unknown') as distributor,
        calendar_year,
        through_date,
        sum(ytd_gross_kzt) as ytd_gross_kzt,
        sum(ytd_admissions) as ytd_admissions,
        count(*) as n_films,
        -- The same for every film of the day: they describe the nation's tracked days.
        any_value(first_tracked_date) as first_tracked_date,
        any_value(days_covered) as days_covered,
        any_value(days_in_period) as days_in_period,
        any_value(provisional_reasons) as provisional_reasons,
        any_value(exclusions) as exclusions,
        any_value(n_cinema_days_missing) as n_cinema_days_missing,
        any_value(n_cinema_days_silent) as n_cinema_days_silent,
        any_value(excluded_quarantined_gross_kzt) as excluded_quarantined_gross_kzt,
    from film_days
    group by coalesce(distributor, 'unknown'), calendar_year, through_date
),

final as (
    select
        distributor,
        calendar_year,
        through_date,
        cast(ytd_gross_kzt as decimal(18, 2)) as ytd_gross_kzt,
        cast(ytd_admissions as bigint) as ytd_admissions,
        cast(n_films as integer) as n_films,
        cast(
            rank()
                over (partition by through_date order by ytd_gross_kzt desc, ytd_admissions desc)
            as integer
        ) as ytd_rank,
        'tracked' as gross_source,
        first_tracked_date,
        days_covered,
        days_in_period,
        len(provisional_reasons) > 0 as is_provisional,
        provisional_reasons,
        exclusions,
        n_cinema_days_missing,
        n_cinema_days_silent,
        excluded_quarantined_gross_kzt,
    from distributor_days
)

select * from final
