{#- Each cinema's film weeks of the window with the completeness flags provisional_reasons reads, over
    its seven session days (a day not on record counts as missing), as the settlement states them. -#}

with

completeness as (
    select * from {{ ref('int_session_days_completeness') }}
    where {{ in_film_week_window(film_week_start('business_date')) }}
),

final as (
    select
        cinema_id,
        {{ film_week_start('business_date') }} as film_week_start,
        cast({{ film_week_start('business_date') }} + 6 as date) as business_date,
        count(*) < 7 or bool_or(reporting_state in ('failed', 'not_pulled')) as has_cinemas_missing,
        bool_or(reporting_state = 'silent') as has_cinemas_silent,
        bool_or(not is_presales_loaded) as has_presales_not_loaded,
        bool_or(not is_next_day_loaded) as has_late_sales_not_loaded,
        bool_or(reporting_state = 'quarantined' or n_quarantined_events + n_quarantined_sessions > 0)
            as has_records_quarantined,
    from completeness
    group by all
)

select * from final
