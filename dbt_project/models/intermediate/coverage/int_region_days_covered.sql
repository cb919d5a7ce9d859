with

cinema_days as (
    select * from {{ ref('int_cinema_days_reported') }}
),

final as (
    select
        region_code,
        business_date,
        count(*) as cinemas_total,
        count(*) filter (where is_connected) as cinemas_connected,
        count(*) filter (where is_reported) as cinemas_reporting,
    from cinema_days
    group by region_code, business_date
)

select * from final
