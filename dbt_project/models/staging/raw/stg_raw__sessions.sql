with

source as (
    select * from {{ source('raw', 'sessions') }}
),

final as (
    select
        session_id,
        film_id,
        hall_id,
        cinema_id,
        business_date as session_date,
        starts_at,
        cast(utc_offset_minutes as integer) as utc_offset_minutes,
        format,
        audio_language,
        subtitle_language,
        attempt_id,
        extracted_at,
    from source
)

select * from final
