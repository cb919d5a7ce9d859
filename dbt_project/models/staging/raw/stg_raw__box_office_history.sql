with

source as (
    select * from {{ source('raw', 'box_office_history') }}
),

final as (
    select
        nullif(film_id, '') as film_id,
        period,
        cast(period_start as date) as period_start,
        cast(
            case
                when period = 'year' then make_date(year(period_start), 12, 31)
                else period_start + 6
            end as date
        ) as period_end,
        cast(gross_kzt as decimal(18, 2)) as gross_kzt,
        cast(admissions as bigint) as admissions,
        source as reported_by,
        cast(source_date as date) as source_date,
    from source
)

select * from final
