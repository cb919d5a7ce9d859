with

source as (
    select * from {{ source('raw', 'declared_returns') }}
),

final as (
    select
        return_id,
        cinema_id,
        film_id,
        film_week_start,
        cast(admissions as bigint) as admissions,
        cast(gross_kzt as decimal(18, 2)) as gross_kzt,
        declared_at,
        cast(revision as integer) as revision,
        attempt_id,
        extracted_at,
    from source
)

select * from final
