{{ config(meta={'dagster': {'ref': {'name': 'national_daily'}}}) }}

-- The films of a day and the regions of a day are two roads to the same national figure.
with

films as (
    select
        business_date,
        sum(gross_kzt) as gross_kzt,
        sum(admissions) as admissions,
    from {{ ref('film_daily_box_office') }}
    group by business_date
),

nation as (
    select * from {{ ref('national_daily') }}
)

select films.*, nation.gross_kzt as national_gross_kzt, nation.admissions as national_admissions
from films
full outer join nation
    on films.business_date = nation.business_date
where coalesce(films.gross_kzt, 0) <> coalesce(nation.gross_kzt, 0)
    or coalesce(films.admissions, 0) <> coalesce(nation.admissions, 0)
