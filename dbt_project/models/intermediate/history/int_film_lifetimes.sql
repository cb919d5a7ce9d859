{#- One row per film with box office on record, reported or tracked: what each source contributes to
    its lifetime since release. -#}

with

periods as (
    select * from {{ ref('int_reported_periods_reconciled') }}
),

film_days as (
    select * from {{ ref('int_film_days_aggregated') }}
),

reported as (
    select
        film_id,
        cast(sum(gross_kzt) filter (where is_counted) as decimal(18, 2)) as reported_gross_kzt,
        cast(sum(admissions) filter (where is_counted) as bigint) as reported_admissions,
        count(*) filter (where is_counted) as n_reported_periods,
        min(period_start) filter (where is_counted) as first_reported_date,
        max(period_end) filter (where is_counted) as reported_through_date,
        cast(sum(gross_kzt) filter (where not is_counted) as decimal(18, 2)) as superseded_gross_kzt,
    from periods
    group by film_id
),

tracked as (
    select
        film_id,
        min(business_date) as first_tracked_date,
        cast(sum(gross_kzt) as decimal(18, 2)) as tracked_gross_kzt,
        cast(sum(admissions) as bigint) as tracked_admissions,
    from film_days
    group by film_id
),

final as (
    select
        coalesce(tracked.film_id, reported.film_id) as film_id,
        reported.first_reported_date,
        reported.reported_through_date,
        tracked.first_tracked_date,
        coalesce(reported.reported_gross_kzt, 0) as reported_gross_kzt,
        coalesce(reported.reported_admissions, 0) as reported_admissions,
        coalesce(reported.superseded_gross_kzt, 0) as superseded_gross_kzt,
        coalesce(tracked.tracked_gross_kzt, 0) as tracked_gross_kzt,
        coalesce(tracked.tracked_admissions, 0) as tracked_admissions,
        cast(
            coalesce(reported.reported_gross_kzt, 0) + coalesce(tracked.tracked_gross_kzt, 0)
            as decimal(18, 2)
        ) as lifetime_gross_kzt,
        cast(coalesce(reported.reported_admissions, 0) + coalesce(tracked.tracked_admissions, 0) as bigint)
            as lifetime_admissions,
        case
            when coalesce(reported.n_reported_periods, 0) > 0 and tracked.film_id is not null then 'mixed'
            when tracked.film_id is not null then 'tracked'
            else 'reported'
        end as gross_source,
    from tracked
    full outer join reported
        on tracked.film_id = reported.film_id
)

select * from final
