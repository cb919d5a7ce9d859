with

source as (
    select * from {{ source('raw', 'cinemas') }}
),

final as (
    select
        cinema_id,
        name as cinema_name,
        chain,
        city,
        region_code,
        timezone,
        is_connected,
        cast(n_halls as integer) as n_halls,
        cast(seats as integer) as n_seats,
    from source
)

select * from final
