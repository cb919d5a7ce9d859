with

source as (
    select * from {{ source('raw', 'cinemas_daily') }}
),

final as (
    select
        business_date,
        cinema_id,
        region_code,
        is_connected,
    from source
)

select * from final
