{#- The nation's coverage is the sum of its regions', so national and regional figures never disagree. -#}

with

region_days as (
    select * from {{ ref('int_region_days_covered') }}
),

final as (
    select
        business_date,
        cast(sum(cinemas_reporting) as integer) as cinemas_reporting,
        cast(sum(cinemas_connected) as integer) as cinemas_connected,
        cast(sum(cinemas_total) as integer) as cinemas_total,
    from region_days
    group by business_date
)

select * from final
