{#- The nation's coverage and completeness are its regions', so national and regional figures never
    disagree. -#}

with

region_days as (
    select * from {{ ref('int_region_days_covered') }}
),

final as (
    select
        business_date,
        cast(sum(cinemas_total) as integer) as cinemas_total,
        cast(sum(cinemas_connected) as integer) as cinemas_connected,
        cast(sum(cinemas_reporting) as integer) as cinemas_reporting,
        bool_or(has_cinemas_missing) as has_cinemas_missing,
        bool_or(has_cinemas_silent) as has_cinemas_silent,
        bool_or(has_presales_not_loaded) as has_presales_not_loaded,
        bool_or(has_late_sales_not_loaded) as has_late_sales_not_loaded,
        bool_or(has_records_quarantined) as has_records_quarantined,
        cast(sum(n_cinemas_missing) as integer) as n_cinemas_missing,
        cast(sum(n_cinemas_silent) as integer) as n_cinemas_silent,
        cast(sum(quarantined_events) as bigint) as quarantined_events,
        cast(sum(quarantined_sessions) as bigint) as quarantined_sessions,
        cast(sum(quarantined_gross_kzt_claimed) as decimal(18, 2)) as quarantined_gross_kzt_claimed,
    from region_days
    group by business_date
)

select * from final
