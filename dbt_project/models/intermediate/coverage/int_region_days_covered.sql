{#- Coverage and completeness of each region's business day: its registered, connected and reporting
    cinemas, why its box office is not yet complete (see int_session_days_completeness) and what was
    quarantined on its sessions' day. -#}

with

cinema_days as (
    select * from {{ ref('int_cinema_days_reported') }}
),

completeness as (
    select * from {{ ref('int_session_days_completeness') }}
),

covered as (
    select
        region_code,
        business_date,
        count(*) as cinemas_total,
        count(*) filter (where is_connected) as cinemas_connected,
        count(*) filter (where is_reported) as cinemas_reporting,
    from cinema_days
    group by region_code, business_date
),

complete as (
    select
        region_code,
        business_date,
        bool_or(reporting_state in ('failed', 'not_pulled')) as has_cinemas_missing,
        bool_or(reporting_state = 'silent') as has_cinemas_silent,
        count(*) filter (where reporting_state in ('failed', 'not_pulled')) as n_cinemas_missing,
        count(*) filter (where reporting_state = 'silent') as n_cinemas_silent,
        bool_or(not is_presales_loaded) as has_presales_not_loaded,
        bool_or(not is_next_day_loaded) as has_late_sales_not_loaded,
        bool_or(reporting_state = 'quarantined' or n_quarantined_events + n_quarantined_sessions > 0)
            as has_records_quarantined,
        sum(n_quarantined_events) as quarantined_events,
        sum(n_quarantined_sessions) as quarantined_sessions,
        sum(quarantined_gross_kzt_claimed) as quarantined_gross_kzt_claimed,
    from completeness
    group by region_code, business_date
),

final as (
    select
        covered.region_code,
        covered.business_date,
        cast(covered.cinemas_total as integer) as cinemas_total,
        cast(covered.cinemas_connected as integer) as cinemas_connected,
        cast(covered.cinemas_reporting as integer) as cinemas_reporting,
        coalesce(complete.has_cinemas_missing, false) as has_cinemas_missing,
        coalesce(complete.has_cinemas_silent, false) as has_cinemas_silent,
        coalesce(complete.has_presales_not_loaded, false) as has_presales_not_loaded,
        coalesce(complete.has_late_sales_not_loaded, false) as has_late_sales_not_loaded,
        coalesce(complete.has_records_quarantined, false) as has_records_quarantined,
        cast(coalesce(complete.n_cinemas_missing, 0) as integer) as n_cinemas_missing,
        cast(coalesce(complete.n_cinemas_silent, 0) as integer) as n_cinemas_silent,
        cast(coalesce(complete.quarantined_events, 0) as bigint) as quarantined_events,
        cast(coalesce(complete.quarantined_sessions, 0) as bigint) as quarantined_sessions,
        cast(coalesce(complete.quarantined_gross_kzt_claimed, 0) as decimal(18, 2))
            as quarantined_gross_kzt_claimed,
    from covered
    left join complete
        on covered.region_code = complete.region_code
        and covered.business_date = complete.business_date
)

select * from final
