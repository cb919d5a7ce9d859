with

source as (
    select * from {{ source('raw', 'cinemas_daily') }}
),

renamed as (
    select
        business_date,
        cinema_id,
        region_code,
        is_connected,
    from source
)

select * from renamed
