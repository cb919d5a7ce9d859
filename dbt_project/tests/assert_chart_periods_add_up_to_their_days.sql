{{ config(meta={'dagster': {'ref': {'name': 'film_weekly_box_office'}}}) }}

-- A film's week and weekend are their days of film_daily_box_office, nothing more and nothing less:
-- a window that read part of a period would show here.
with

film_days as (
    select * from {{ ref('film_daily_box_office') }}
),

weeks as (
    select * from {{ ref('film_weekly_box_office') }}
),

weekends as (
    select * from {{ ref('film_weekend_box_office') }}
),

periods_from_days as (
    select
        'film_week' as period,
        film_id,
        {{ film_week_start('business_date') }} as period_start,
        sum(gross_kzt) as gross_kzt,
        sum(admissions) as admissions,
    from film_days
    group by film_id, {{ film_week_start('business_date') }}
    union all
    select
        'weekend' as period,
        film_id,
        {{ weekend_start('business_date') }} as period_start,
        sum(gross_kzt) as gross_kzt,
        sum(admissions) as admissions,
    from film_days
    where {{ weekend_start('business_date') }} is not null
    group by film_id, {{ weekend_start('business_date') }}
),

charted as (
    select 'film_week' as period, film_id, film_week_start as period_start, gross_kzt, admissions from weeks
    union all
    select 'weekend' as period, film_id, weekend_start as period_start, gross_kzt, admissions from weekends
)

select
    coalesce(charted.period, periods_from_days.period) as period,
    coalesce(charted.film_id, periods_from_days.film_id) as film_id,
    coalesce(charted.period_start, periods_from_days.period_start) as period_start,
    charted.gross_kzt as charted_gross_kzt,
    periods_from_days.gross_kzt as days_gross_kzt,
    charted.admissions as charted_admissions,
    periods_from_days.admissions as days_admissions,
from charted
full outer join periods_from_days
    on charted.period = periods_from_days.period
    and charted.film_id = periods_from_days.film_id
    and charted.period_start = periods_from_days.period_start
where charted.gross_kzt is distinct from periods_from_days.gross_kzt
    or charted.admissions is distinct from periods_from_days.admissions
