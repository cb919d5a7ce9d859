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

{#- The national figure is the sum of the regions, so the two can never disagree. -#}

with

region_days as (
    select * from {{ ref('region_daily') }}
    where {{ in_session_window('business_date') }}
),

final as (
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
        cast(sum(cinemas_reporting) as integer) as cinemas_reporting,
        cast(sum(cinemas_connected) as integer) as cinemas_connected,
        cast(sum(cinemas_total) as integer) as cinemas_total,
        {{ is_provisional('business_date') }} as is_provisional,
    from region_days
    group by business_date
)

select * from final
