{#- What each state-funded project achieved in cinemas: whether its film reached theatres (the film
    registry's release record: a distribution certificate and a release date passed) and its lifetime
    box office since release (reported history before tracking plus what e-Kino tracked), set against
    the grant. Rebuilt whole on each build (98 rows in the pilot registry). -#}

with

grants as (
    select * from {{ ref('stg_raw__funding_grants') }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

lifetimes as (
    select * from {{ ref('int_film_lifetimes') }}
),

film_days as (
    select * from {{ ref('int_film_days_aggregated') }}
),

screenings as (
    select
        film_id,
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
        films.distribution_certificate,
        films.certificate_date,
        coalesce(films.release_date <= {{ as_of_date() }}, false) as is_released,
        coalesce(
            films.distribution_certificate is not null and films.release_date <= {{ as_of_date() }}, false
        ) as reached_theatres,
        lifetimes.first_tracked_date as first_screening_date,
        coalesce(lifetimes.lifetime_gross_kzt, 0) as lifetime_gross_kzt,
        coalesce(lifetimes.lifetime_admissions, 0) as lifetime_admissions,
        coalesce(lifetimes.reported_gross_kzt, 0) as reported_gross_kzt,
        coalesce(lifetimes.reported_admissions, 0) as reported_admissions,
        coalesce(lifetimes.tracked_gross_kzt, 0) as tracked_gross_kzt,
        coalesce(lifetimes.tracked_admissions, 0) as tracked_admissions,
        lifetimes.gross_source,
        coalesce(screenings.n_screenings, 0) as n_screenings,
        cast({{ exact_ratio('coalesce(lifetimes.lifetime_gross_kzt, 0)', 'grants.amount_kzt', 6) }} as decimal(18, 6))
            as recoupment_rate,
    from grants
    left join films
        on grants.film_id = films.film_id
    left join lifetimes
        on grants.film_id = lifetimes.film_id
    left join screenings
        on grants.film_id = screenings.film_id
)

select * from final
