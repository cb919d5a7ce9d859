{{ config(meta={'dagster': {'ref': {'name': 'film_daily_box_office'}}}) }}

-- A film-day's gross is below zero only when refunds exceed sales, which session-day attribution
-- allows only for refunds whose sale is not counted: a refund of a ticket never sold, a refund of a
-- quarantined sale (both anomalies), or a refund of a presale from before the loaded history (the day
-- then excludes presales_not_loaded). History starting somewhere never fails the build.
with

film_days as (
    select * from {{ ref('film_daily_box_office') }}
),

anomalies as (
    select * from {{ ref('anomalies') }}
    where anomaly_type in ('refund_without_sale', 'refund_of_quarantined_sale')
)

select film_days.*
from film_days
where (film_days.gross_kzt < 0 or film_days.admissions < 0)
    and not list_contains(film_days.exclusions, 'presales_not_loaded')
    and not exists (
        select 1 from anomalies
        where anomalies.film_id = film_days.film_id
            and anomalies.business_date = film_days.business_date
    )
