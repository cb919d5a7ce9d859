{#- What each state-funded project achieved in cinemas: lifetime box office over every session day on
    record, set against the grant. Rebuilt whole on each build (98 rows in the pilot registry). -#}

with

grants as (
    select * from {{ ref('stg_raw__funding_grants') }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

film_days as (
    select * from {{ ref('int_film_days_aggregated') }}
),

film_totals as (
    select
        film_id,
        min(business_date) as first_screening_date,
        cast(sum(gross_kzt) as decimal(18, 2)) as gross_kzt,
        cast(sum(admissions) as bigint) as admissions,
        cast(sum(n_screenings) as bigint) as n_screenings,
    from film_days
    group by film_id
),

final as (
    select
        grants.project_id,
        grants.title,
        grants.producer,
        grants.grant_year,
        grants.amount_kzt,
        grants.status,
        grants.film_id,
        films.release_date,
        coalesce(films.release_date <= {{ as_of_date() }}, false) as is_released,
        film_totals.first_screening_date,
        film_totals.first_screening_date is not null as reached_theatres,
        coalesce(film_totals.gross_kzt, 0) as gross_kzt,
        coalesce(film_totals.admissions, 0) as admissions,
        coalesce(film_totals.n_screenings, 0) as n_screenings,
        cast({{ exact_ratio('coalesce(film_totals.gross_kzt, 0)', 'grants.amount_kzt', 6) }} as decimal(18, 6))
            as recoupment_rate,
    from grants
    left join films
        on grants.film_id = films.film_id
    left join film_totals
        on grants.film_id = film_totals.film_id
)

select * from final
