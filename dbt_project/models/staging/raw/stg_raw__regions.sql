with

source as (
    select * from {{ source('raw', 'regions') }}
),

final as (
    select
        region_code,
        name as region_name,
        kind as region_kind,
        capital,
        cast(population as bigint) as population,
        timezone,
    from source
)

select * from final
