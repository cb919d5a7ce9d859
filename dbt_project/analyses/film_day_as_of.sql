-- What film_daily_box_office said for one film and business day at a given instant: revision times are
-- timestamptz, so the answer is the same whatever the reader's TimeZone setting.
-- dbt compile --select film_day_as_of --vars '{film_id: F00123, business_date: 2024-03-01, as_of: "2024-03-05 12:00:00+00"}'
with

revisions as (
    select * from {{ ref('film_daily_box_office_revisions') }}
),

final as (
    select *
    from revisions
    where film_id = '{{ var("film_id", "F00001") }}'
        and business_date = date '{{ var("business_date", "2024-01-01") }}'
        and dbt_valid_from <= timestamptz '{{ var("as_of", "2100-01-01 00:00:00+00") }}'
        and (
            dbt_valid_to > timestamptz '{{ var("as_of", "2100-01-01 00:00:00+00") }}'
            or dbt_valid_to is null
        )
)

select * from final
