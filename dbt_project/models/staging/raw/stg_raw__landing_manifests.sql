with

source as (
    select * from {{ source('raw', 'landing_manifests') }}
),

final as (
    select
        dataset,
        cinema_id,
        business_date,
        status,
        status = 'success' as is_success,
        error,
        error_type,
        attempts as n_attempts,
        served as n_served,
        landed as n_landed,
        quarantined as n_quarantined,
        duplicates_dropped as n_duplicates_dropped,
        extra_fields as n_extra_fields,
        cast(coalesce(discarded_served, 0) as bigint) as n_discarded_served,
        cast(coalesce(replayed, 0) as bigint) as n_replayed,
        cast(coalesce(killed_attempts, 0) as bigint) as n_killed_attempts,
        first_record_at,
        last_record_at,
        finished_at,
        duration_seconds,
        attempt_id,
        data_attempt_id,
        run_id,
        history,
    from source
)

select * from final
