with

source as (
    select * from {{ source('raw', 'declared_returns_manifests') }}
),

final as (
    select
        cinema_id,
        business_date as film_week_start,
        status,
        status = 'success' as is_success,
        error,
        served as n_served,
        landed as n_landed,
        quarantined as n_quarantined,
        finished_at,
        attempt_id,
    from source
)

select * from final
