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

{#- A film's day in a region carries the region's coverage and exclusions from region_daily: what the
    figure leaves out depends on the region's cinemas, not only on those that screened it. -#}

with

sessions as (
    select * from {{ ref('int_sessions_aggregated') }}
    where {{ in_session_window('business_date') }}
),

region_days as (
    select * from {{ ref('region_daily') }}
    where {{ in_session_window('business_date') }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

film_region_days as (
    select
        film_id,
        region_code,
        business_date,
        sum(gross_kzt) as gross_kzt,
        sum(sales_kzt) as sales_kzt,
        sum(refunds_kzt) as refunds_kzt,
        sum(admissions) as admissions,
        sum(paid_admissions) as paid_admissions,
        count(*) as n_screenings,
        count(distinct cinema_id) as n_cinemas,
    from sessions
    group by film_id, region_code, business_date
),

final as (
    select
        film_region_days.film_id,
        film_region_days.region_code,
        film_region_days.business_date,
        films.title,
        region_days.region_name,
        cast(film_region_days.gross_kzt as decimal(18, 2)) as gross_kzt,
        cast(film_region_days.sales_kzt as decimal(18, 2)) as sales_kzt,
        cast(film_region_days.refunds_kzt as decimal(18, 2)) as refunds_kzt,
        cast(film_region_days.admissions as bigint) as admissions,
        cast(film_region_days.paid_admissions as bigint) as paid_admissions,
        cast(film_region_days.n_screenings as bigint) as n_screenings,
        cast(film_region_days.n_cinemas as bigint) as n_cinemas,
        cast(
            {{ exact_ratio('film_region_days.gross_kzt', 'film_region_days.paid_admissions', 2) }} as decimal(
                18, 2
            )
        )
            as avg_ticket_price_kzt,
        cast(
            {{ exact_ratio('film_region_days.gross_kzt', 'region_days.gross_kzt', 4) }} as decimal(9, 4)
        ) as region_gross_share,
        region_days.cinemas_reporting,
        region_days.cinemas_connected,
        region_days.cinemas_total,
        -- A region's day missing from region_daily has no known coverage.
        {%- set exclusions = "coalesce(region_days.exclusions, ['coverage_unknown'])" %}
        len({{ closing_reasons('film_region_days.business_date', exclusions) }}) > 0 as is_provisional,
        {{ closing_reasons('film_region_days.business_date', exclusions) }} as provisional_reasons,
        {{ exclusions }} as exclusions,
        region_days.n_cinemas_missing,
        region_days.n_cinemas_silent,
        region_days.excluded_quarantined_gross_kzt,
    from film_region_days
    left join region_days
        on film_region_days.region_code = region_days.region_code
        and film_region_days.business_date = region_days.business_date
    left join films
        on film_region_days.film_id = films.film_id
)

select * from final
