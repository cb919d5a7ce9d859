{#- Lifetime = reported history + tracked, never counted twice: a film's reported period counts only
    when it ends before the film's first tracked day. From that day on tracking is the film's source, so
    a reported period that reaches it is superseded, and history_overlaps says by how much the two
    differed. -#}

with

history as (
    select * from {{ ref('stg_raw__box_office_history') }}
    where film_id is not null
),

film_days as (
    select * from {{ ref('int_film_days_aggregated') }}
),

first_tracked as (
    select
        film_id,
        min(business_date) as first_tracked_date,
    from film_days
    group by film_id
),

tracked_in_period as (
    select
        history.film_id,
        history.period,
        history.period_start,
        cast(sum(film_days.gross_kzt) as decimal(18, 2)) as tracked_gross_kzt,
        cast(sum(film_days.admissions) as bigint) as tracked_admissions,
        count(film_days.business_date) as n_days_tracked,
    from history
    inner join film_days
        on history.film_id = film_days.film_id
        and film_days.business_date between history.period_start and history.period_end
    group by all
),

final as (
    select
        history.film_id,
        history.period,
        history.period_start,
        history.period_end,
        history.gross_kzt,
        history.admissions,
        history.reported_by,
        history.source_date,
        first_tracked.first_tracked_date,
        coalesce(history.period_end < first_tracked.first_tracked_date, true) as is_counted,
        coalesce(tracked_in_period.tracked_gross_kzt, 0) as tracked_gross_kzt,
        coalesce(tracked_in_period.tracked_admissions, 0) as tracked_admissions,
        coalesce(tracked_in_period.n_days_tracked, 0) as n_days_tracked,
    from history
    left join first_tracked
        on history.film_id = first_tracked.film_id
    left join tracked_in_period
        on history.film_id = tracked_in_period.film_id
        and history.period = tracked_in_period.period
        and history.period_start = tracked_in_period.period_start
)

select * from final
