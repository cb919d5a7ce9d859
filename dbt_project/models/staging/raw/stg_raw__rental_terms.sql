with

source as (
    select * from {{ source('raw', 'rental_terms') }}
),

final as (
    select
        terms_id,
        film_id,
        distributor,
        scope,
        nullif(chain, '') as chain,
        nullif(cinema_id, '') as cinema_id,
        method,
        cast(rates_pct as decimal(5, 2)[]) as rates_pct,
        cast(house_allowance_kzt as decimal(18, 2)) as house_allowance_kzt,
        cast(fee_kzt as decimal(18, 2)) as fee_kzt,
        cast(minimum_guarantee_kzt as decimal(18, 2)) as minimum_guarantee_kzt,
        cast(effective_from as date) as effective_from,
        cast(effective_to as date) as effective_to,
        cast(terms_version as integer) as terms_version,
    from source
)

select * from final
