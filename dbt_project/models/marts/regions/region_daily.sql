{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='business_date',
        pre_hook="{{ clear_session_window() }}",
        post_hook="{{ refresh_provisional_flags() }}",
        on_schema_change='fail',
    )
}}

with

sessions as (
    select * from {{ ref('int_sessions_aggregated') }}
    where {{ in_session_window('business_date') }}
),

coverage as (
    select * from {{ ref('int_region_days_covered') }}
    where {{ in_session_window('business_date') }}
),

regions as (
    select * from {{ ref('stg_raw__regions') }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

-- Every region appears on every day the window knows of, with zeros when nothing was screened.
days as (
    select business_date from coverage
    union
    select business_date from sessions
),

region_totals as (
    select
        sessions.region_code,
        sessions.business_date,
        sum(sessions.gross_kzt) as gross_kzt,
        sum(sessions.sales_kzt) as sales_kzt,
        sum(sessions.refunds_kzt) as refunds_kzt,
        sum(sessions.admissions) as admissions,
        sum(sessions.paid_admissions) as paid_admissions,
        count(*) as n_screenings,
        count(distinct sessions.cinema_id) as n_cinemas_screening,
        count(distinct sessions.film_id) as n_films,
        sum(sessions.gross_kzt) filter (where films.is_domestic) as domestic_gross_kzt,
        sum(sessions.admissions) filter (where sessions.audio_language = 'kk') as kazakh_language_admissions,
    from sessions
    left join films
        on sessions.film_id = films.film_id
    group by sessions.region_code, sessions.business_date
),

final as (
    select
        regions.region_code,
        regions.region_name,
        days.business_date,
        cast(coalesce(region_totals.gross_kzt, 0) as decimal(18, 2)) as gross_kzt,
        cast(coalesce(region_totals.sales_kzt, 0) as decimal(18, 2)) as sales_kzt,
        cast(coalesce(region_totals.refunds_kzt, 0) as decimal(18, 2)) as refunds_kzt,
        cast(coalesce(region_totals.admissions, 0) as bigint) as admissions,
        cast(coalesce(region_totals.paid_admissions, 0) as bigint) as paid_admissions,
        cast(coalesce(region_totals.n_screenings, 0) as bigint) as n_screenings,
        cast(coalesce(region_totals.n_cinemas_screening, 0) as bigint) as n_cinemas_screening,
        cast(coalesce(region_totals.n_films, 0) as bigint) as n_films,
        cast({{ exact_ratio('region_totals.gross_kzt', 'region_totals.paid_admissions', 2) }} as decimal(18, 2))
            as avg_ticket_price_kzt,
        cast(coalesce(region_totals.domestic_gross_kzt, 0) as decimal(18, 2)) as domestic_gross_kzt,
        cast(
            {{ exact_ratio('coalesce(region_totals.domestic_gross_kzt, 0)', 'region_totals.gross_kzt') }}
            as decimal(9, 4)
        ) as domestic_gross_share,
        cast(coalesce(region_totals.kazakh_language_admissions, 0) as bigint) as kazakh_language_admissions,
        cast(
            {{ exact_ratio('coalesce(region_totals.kazakh_language_admissions, 0)', 'region_totals.admissions') }}
            as decimal(9, 4)
        ) as kazakh_language_admissions_share,
        cast(coalesce(coverage.cinemas_reporting, 0) as integer) as cinemas_reporting,
        cast(coalesce(coverage.cinemas_connected, 0) as integer) as cinemas_connected,
        cast(coalesce(coverage.cinemas_total, 0) as integer) as cinemas_total,
        {{ is_provisional('days.business_date') }} as is_provisional,
    from regions
    cross join days
    left join region_totals
        on regions.region_code = region_totals.region_code
        and days.business_date = region_totals.business_date
    left join coverage
        on regions.region_code = coverage.region_code
        and days.business_date = coverage.business_date
)

select * from final
