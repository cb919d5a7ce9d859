with

source as (
    select * from {{ source('raw', 'halls') }}
),

final as (
    select
        hall_id,
        cinema_id,
        name as hall_name,
        cast(seats as integer) as n_seats,
        cast(seat_rows as integer) as n_seat_rows,
        format,
    from source
)

select * from final
