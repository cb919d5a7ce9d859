with

source as (
    select * from {{ source('raw', 'funding_grants') }}
),

final as (
    select
        project_id,
        title,
        producer,
        cast(grant_year as integer) as grant_year,
        cast(amount_kzt as decimal(16, 2)) as amount_kzt,
        status,
        nullif(film_id, '') as film_id,
    from source
)

select * from final
