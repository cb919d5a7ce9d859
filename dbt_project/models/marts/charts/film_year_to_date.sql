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

{#- Year to date counts the tracked days only (the sessions whose ticket events e-Kino pulled): a year
    whose tracking began after 1 January says so (first_tracked_date, days_not_loaded). A window
    rewrites its days and every later one, reading its years from 1 January. -#}

with

national_days as (
    select * from {{ ref('national_daily') }}
    where {{ chart_years_read('business_date') }}
),

film_days as (
    select * from {{ ref('film_daily_box_office') }}
    where {{ chart_years_read('business_date') }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

year_days as (
    select
        business_date as through_date,
        year(business_date) as calendar_year,
        min(business_date) over year_so_far as first_tracked_date,
        count(*) over year_so_far as days_covered,
        flatten(list(exclusions) over year_so_far) as day_exclusions,
        sum(n_cinemas_missing) over year_so_far as n_cinema_days_missing,
        sum(n_cinemas_silent) over year_so_far as n_cinema_days_silent,
        sum(excluded_quarantined_gross_kzt) over year_so_far as excluded_quarantined_gross_kzt,
    from national_days
    window year_so_far as (
        partition by year(business_date)
        order by business_date rows between unbounded preceding and current row
    )
),

film_years as (
    select
        film_id,
        year(business_date) as calendar_year,
        min(business_date) as first_screening_date,
    from film_days
    group by film_id, year(business_date)
),

-- Every film on every tracked day of the year from its first screening that year, so a day's ranking
-- holds every film of the year so far, also those not screened that day.
film_year_days as (
    select
        film_years.film_id,
        year_days.*,
    from year_days
    inner join film_years
        on year_days.calendar_year = film_years.calendar_year
        and year_days.through_date >= film_years.first_screening_date
),

running as (
    select
        film_year_days.*,
        sum(coalesce(film_days.gross_kzt, 0)) over film_year as gross_kzt,
        sum(coalesce(film_days.admissions, 0)) over film_year as admissions,
        count(film_days.business_date) over film_year as days_screened,
    from film_year_days
    left join film_days
        on film_year_days.film_id = film_days.film_id
        and film_year_days.through_date = film_days.business_date
    window film_year as (
        partition by film_year_days.film_id, film_year_days.calendar_year
        order by film_year_days.through_date
        rows between unbounded preceding and current row
    )
),

ranked as (
    select
        *,
        rank() over (partition by through_date order by gross_kzt desc, admissions desc) as ytd_rank,
    from running
    where {{ in_session_window('through_date', open_ended=true) }}
),

final as (
    select
        ranked.film_id,
        cast(ranked.calendar_year as integer) as calendar_year,
        ranked.through_date,
        films.title,
        films.distributor,
        cast(ranked.gross_kzt as decimal(18, 2)) as ytd_gross_kzt,
        cast(ranked.admissions as bigint) as ytd_admissions,
        cast(ranked.days_screened as integer) as days_screened,
        cast(ranked.ytd_rank as integer) as ytd_rank,
        'tracked' as gross_source,
        ranked.first_tracked_date,
        cast(ranked.days_covered as integer) as days_covered,
        cast(ranked.through_date - make_date(ranked.calendar_year, 1, 1) + 1 as integer) as days_in_period,
        {%- set exclusions = period_exclusions(
            'ranked.day_exclusions', 'ranked.days_covered',
            'ranked.through_date - make_date(ranked.calendar_year, 1, 1) + 1'
        ) %}
        {%- set reasons = closing_reasons('ranked.through_date', exclusions) %}
        len({{ reasons }}) > 0 as is_provisional,
        {{ reasons }} as provisional_reasons,
        {{ exclusions }} as exclusions,
        cast(ranked.n_cinema_days_missing as integer) as n_cinema_days_missing,
        cast(ranked.n_cinema_days_silent as integer) as n_cinema_days_silent,
        cast(ranked.excluded_quarantined_gross_kzt as decimal(18, 2)) as excluded_quarantined_gross_kzt,
    from ranked
    left join films
        on ranked.film_id = films.film_id
)

select * from final
