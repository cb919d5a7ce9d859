with

source as (
    select * from {{ source('raw', 'tax_rules') }}
),

final as (
    select
        rule_id,
        cast(effective_from as date) as effective_from,
        cast(effective_to as date) as effective_to,
        cast(vat_rate_pct as decimal(5, 2)) as vat_rate_pct,
        cast(film_fund_levy_pct as decimal(5, 2)) as film_fund_levy_pct,
    from source
)

select * from final
