{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='business_date',
        pre_hook="{{ clear_session_window() }}",
        post_hook="{{ refresh_provisional_flags() }}",
        on_schema_change='fail',
    )
}}

{#- The national figure is the sum of the regions, so the two can never disagree; regions with no
    connected cinema add nothing (their figures are unknown, and the coverage says so). -#}

with

region_days as (
    select * from {{ ref('region_daily') }}
    where {{ in_session_window('business_date') }}
),

national_coverage as (
    select * from {{ ref('int_national_days_covered') }}
    where {{ in_session_window('business_date') }}
),

nation as (
    select
        business_date,
        cast(sum(gross_kzt) as decimal(18, 2)) as gross_kzt,
        cast(sum(sales_kzt) as decimal(18, 2)) as sales_kzt,
        cast(sum(refunds_kzt) as decimal(18, 2)) as refunds_kzt,
        cast(sum(admissions) as bigint) as admissions,
        cast(sum(paid_admissions) as bigint) as paid_admissions,
        cast(sum(n_screenings) as bigint) as n_screenings,
        cast(sum(n_cinemas_screening) as bigint) as n_cinemas_screening,
        cast({{ exact_ratio('sum(gross_kzt)', 'sum(paid_admissions)', 2) }} as decimal(18, 2))
            as avg_ticket_price_kzt,
        cast(sum(domestic_gross_kzt) as decimal(18, 2)) as domestic_gross_kzt,
        cast({{ exact_ratio('sum(domestic_gross_kzt)', 'sum(gross_kzt)') }} as decimal(9, 4))
            as domestic_gross_share,
        cast(sum(kazakh_language_admissions) as bigint) as kazakh_language_admissions,
        cast({{ exact_ratio('sum(kazakh_language_admissions)', 'sum(admissions)') }} as decimal(9, 4))
            as kazakh_language_admissions_share,
        cast(sum(quarantined_events) as bigint) as quarantined_events,
        cast(sum(quarantined_sessions) as bigint) as quarantined_sessions,
        cast(sum(quarantined_gross_kzt_claimed) as decimal(18, 2)) as quarantined_gross_kzt_claimed,
        cast(sum(cinemas_reporting) as integer) as cinemas_reporting,
        cast(sum(cinemas_connected) as integer) as cinemas_connected,
        cast(sum(cinemas_total) as integer) as cinemas_total,
    from region_days
    group by business_date
),

final as (
    select
        nation.*,
        len({{ provisional_reasons('nation.business_date', 'national_coverage') }}) > 0 as is_provisional,
        {{ provisional_reasons('nation.business_date', 'national_coverage') }} as provisional_reasons,
        {{ exclusion_columns('national_coverage') }}
    from nation
    left join national_coverage
        on nation.business_date = national_coverage.business_date
)

select * from final
