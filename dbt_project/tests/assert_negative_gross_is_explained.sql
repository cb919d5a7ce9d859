{{ config(meta={'dagster': {'ref': {'name': 'film_daily_box_office'}}}) }}

-- A film-day's gross is below zero only when refunds exceed sales, which session-day attribution
-- allows only for refunds of tickets never sold: each such film-day must have that anomaly.
with

film_days as (
    select * from {{ ref('film_daily_box_office') }}
),

anomalies as (
    select * from {{ ref('anomalies') }}
    where anomaly_type = 'refund_without_sale'
)

select film_days.*
from film_days
where (film_days.gross_kzt < 0 or film_days.admissions < 0)
    and not exists (
        select 1 from anomalies
        where anomalies.film_id = film_days.film_id
            and anomalies.business_date = film_days.business_date
    )
