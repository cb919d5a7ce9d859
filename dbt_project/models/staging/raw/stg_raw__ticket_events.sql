with

source as (
    select * from {{ source('raw', 'ticket_events') }}
),

final as (
    select
        event_id,
        event_type,
        ticket_id,
        session_id,
        cinema_id,
        business_date as event_date,
        occurred_at,
        cast(amount_kzt as decimal(14, 2)) as amount_kzt,
        seat_row,
        seat_number,
        channel,
        category,
        event_type = 'sale' as is_sale,
        event_type = 'refund' as is_refund,
        attempt_id,
        extracted_at,
    from source
)

select * from final
