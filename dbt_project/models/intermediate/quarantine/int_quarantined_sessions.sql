{#- The sessions quarantined at landing (most often: a film not yet in the national registry), one row
    each: events naming them are held back (int_quarantined_records_located) and reported as sessions of
    an unregistered film, not as sessions nobody listed (anomalies). A replay that lands the session
    takes it out of the quarantine, and so out of here. -#}

with

quarantined as (
    select * from {{ ref('stg_raw__quarantined_records') }}
    where dataset = 'sessions' and claimed_session_id is not null
),

final as (
    select
        cinema_id,
        claimed_session_id as session_id,
        max(business_date) as session_date,
        any_value(claimed_film_id) as film_id,
        any_value(reason) as reason,
        any_value(reason_code) as reason_code,
    from quarantined
    group by cinema_id, claimed_session_id
)

select * from final
