{#- Box office over every session day on record, and the lifetime since release (reported history before
    the film's first tracked day plus the tracked figures); rebuilt whole on each build (one row per film
    screened). -#}

with

sessions as (
    select * from {{ ref('int_sessions_aggregated') }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

lifetimes as (
    select * from {{ ref('int_film_lifetimes') }}
),

film_totals as (
    select
        film_id,
        min(business_date) as first_screening_date,
        max(business_date) as last_screening_date,
        count(distinct business_date) as n_days_screened,
        cast(sum(gross_kzt) as decimal(18, 2)) as gross_kzt,
        cast(sum(sales_kzt) as decimal(18, 2)) as sales_kzt,
        cast(sum(refunds_kzt) as decimal(18, 2)) as refunds_kzt,
        cast(sum(admissions) as bigint) as admissions,
        cast(sum(paid_admissions) as bigint) as paid_admissions,
        count(*) as n_screenings,
        count(distinct cinema_id) as n_cinemas,
        count(distinct region_code) as n_regions,
        cast(sum(admissions) filter (where audio_language = 'kk') as bigint) as kk_audio_admissions,
        cast(sum(admissions) filter (where audio_language = 'ru') as bigint) as ru_audio_admissions,
        cast(sum(admissions) filter (where audio_language = 'en') as bigint) as en_audio_admissions,
        cast(
            sum(admissions) filter (where audio_language not in ('kk', 'ru', 'en')) as bigint
        ) as other_audio_admissions,
    from sessions
    group by film_id
),

final as (
    select
        film_totals.film_id,
        films.title,
        films.original_title,
        films.genres,
        films.genres[1] as primary_genre,
        films.production_countries,
        films.origin_country,
        films.original_language,
        coalesce(films.is_domestic, false) as is_domestic,
        films.release_date,
        films.distributor,
        films.funding_project_id,
        film_totals.first_screening_date,
        film_totals.last_screening_date,
        film_totals.n_days_screened,
        lifetimes.first_reported_date,
        lifetimes.reported_through_date,
        lifetimes.lifetime_gross_kzt,
        lifetimes.lifetime_admissions,
        lifetimes.reported_gross_kzt,
        lifetimes.reported_admissions,
        lifetimes.superseded_gross_kzt,
        lifetimes.gross_source,
        film_totals.gross_kzt,
        film_totals.sales_kzt,
        film_totals.refunds_kzt,
        film_totals.admissions,
        film_totals.paid_admissions,
        film_totals.n_screenings,
        film_totals.n_cinemas,
        film_totals.n_regions,
        cast({{ exact_ratio('film_totals.gross_kzt', 'film_totals.paid_admissions', 2) }} as decimal(18, 2))
            as avg_ticket_price_kzt,
        -- Shares of admissions by the language the film was screened in.
        cast({{ exact_ratio('coalesce(kk_audio_admissions, 0)', 'film_totals.admissions') }} as decimal(9, 4))
            as kk_audio_share,
        cast({{ exact_ratio('coalesce(ru_audio_admissions, 0)', 'film_totals.admissions') }} as decimal(9, 4))
            as ru_audio_share,
        cast({{ exact_ratio('coalesce(en_audio_admissions, 0)', 'film_totals.admissions') }} as decimal(9, 4))
            as en_audio_share,
        cast(
            {{ exact_ratio('coalesce(other_audio_admissions, 0)', 'film_totals.admissions') }}
            as decimal(9, 4)
        ) as other_audio_share,
    from film_totals
    left join films
        on film_totals.film_id = films.film_id
    left join lifetimes
        on film_totals.film_id = lifetimes.film_id
)

select * from final
