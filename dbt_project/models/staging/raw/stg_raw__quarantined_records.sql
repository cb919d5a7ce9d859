with

source as (
    select * from {{ source('raw', 'quarantine') }}
),

final as (
    select
        dataset,
        cinema_id,
        business_date,
        page,
        record_key,
        raw_record,
        reason,
        attempt_id,
        extracted_at,
    from source
)

select * from final
