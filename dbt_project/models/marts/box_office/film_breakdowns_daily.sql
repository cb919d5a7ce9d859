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

{#- Box office per business day by genre, screening (audio) language and country of origin. A film
    counts fully in each of its genres, so genre rows add up to more than the day's total; language and
    country rows add up to it exactly. -#}

with

sessions as (
    select * from {{ ref('int_sessions_aggregated') }}
    where {{ in_session_window('business_date') }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

national_coverage as (
    select * from {{ ref('int_national_days_covered') }}
),

described as (
    select
        sessions.*,
        coalesce(films.genres, ['unknown']) as genres,
        coalesce(films.origin_country, 'unknown') as origin_country,
    from sessions
    left join films
        on sessions.film_id = films.film_id
),

by_dimension as (
    select 'genre' as dimension, unnest(genres) as dimension_value, * exclude (genres) from described
    union all by name
    select 'audio_language' as dimension, audio_language as dimension_value, * exclude (genres) from described
    union all by name
    select 'origin_country' as dimension, origin_country as dimension_value, * exclude (genres) from described
),

day_totals as (
    select
        business_date,
        sum(gross_kzt) as day_gross_kzt,
        sum(admissions) as day_admissions,
    from sessions
    group by business_date
),

aggregated as (
    select
        dimension,
        dimension_value,
        business_date,
        cast(sum(gross_kzt) as decimal(18, 2)) as gross_kzt,
        cast(sum(admissions) as bigint) as admissions,
        cast(sum(paid_admissions) as bigint) as paid_admissions,
        count(*) as n_screenings,
        count(distinct film_id) as n_films,
    from by_dimension
    group by dimension, dimension_value, business_date
),

final as (
    select
        aggregated.*,
        cast({{ exact_ratio('aggregated.gross_kzt', 'aggregated.paid_admissions', 2) }} as decimal(18, 2))
            as avg_ticket_price_kzt,
        cast({{ exact_ratio('aggregated.gross_kzt', 'day_totals.day_gross_kzt') }} as decimal(9, 4))
            as gross_share,
        cast({{ exact_ratio('aggregated.admissions', 'day_totals.day_admissions') }} as decimal(9, 4))
            as admissions_share,
        national_coverage.cinemas_reporting,
        national_coverage.cinemas_connected,
        national_coverage.cinemas_total,
        len({{ provisional_reasons('aggregated.business_date', 'national_coverage') }}) > 0 as is_provisional,
        {{ provisional_reasons('aggregated.business_date', 'national_coverage') }} as provisional_reasons,
        {{ exclusion_columns('national_coverage') }}
    from aggregated
    left join day_totals
        on aggregated.business_date = day_totals.business_date
    left join national_coverage
        on aggregated.business_date = national_coverage.business_date
)

select * from final
