{#- What each state-funded project achieved in cinemas: whether its film reached theatres (the film
    registry's release record: a distribution certificate and a release date passed) and its lifetime
    box office since release (reported history before tracking plus what e-Kino tracked), set against
    the grant; and what came back to the film's distributor: the rental due on the film weeks e-Kino has
    settled (settlement_weekly). Rebuilt whole on each build (98 rows in the pilot registry). -#}

{#- Settlement is built per film week, by its own job: until its first run the table does not exist and
    no week is settled yet. -#}
{%- set settlement = load_relation(ref('settlement_weekly')) -%}

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

settled as (
    {%- if settlement is not none %}
    select
        film_id,
        cast(sum(rental_due_kzt) as decimal(18, 2)) as rental_due_kzt,
        count(distinct film_week_start) as n_weeks_settled,
        bool_or(is_provisional) as has_provisional_weeks,
        count(*) filter (where rental_due_kzt is null) as n_lines_without_terms,
    from {{ settlement }}
    group by film_id
    {%- else %}
    select
        cast(null as varchar) as film_id,
        cast(null as decimal(18, 2)) as rental_due_kzt,
        cast(null as bigint) as n_weeks_settled,
        cast(null as boolean) as has_provisional_weeks,
        cast(null as bigint) as n_lines_without_terms,
    where false
    {%- endif %}
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
        cast(
            {{ exact_ratio('coalesce(lifetimes.lifetime_gross_kzt, 0)', 'grants.amount_kzt', 6) }} as decimal(
                18, 6
            )
        )
            as recoupment_rate,
        coalesce(settled.rental_due_kzt, 0) as rental_due_kzt,
        coalesce(settled.n_weeks_settled, 0) as n_weeks_settled,
        coalesce(settled.has_provisional_weeks or settled.n_lines_without_terms > 0, false)
            as is_rental_provisional,
        cast(
            {{ exact_ratio('coalesce(settled.rental_due_kzt, 0)', 'grants.amount_kzt', 6) }} as decimal(18, 6)
        )
            as rental_recoupment_rate,
    from grants
    left join films
        on grants.film_id = films.film_id
    left join lifetimes
        on grants.film_id = lifetimes.film_id
    left join screenings
        on grants.film_id = screenings.film_id
    left join settled
        on grants.film_id = settled.film_id
)

select * from final
