with

outcomes as (
    select * from {{ ref('funding_outcomes') }}
),

final as (
    select
        grant_year,
        count(*) as n_projects,
        cast(sum(amount_kzt) as decimal(18, 2)) as funded_amount_kzt,
        count(*) filter (where is_released) as n_released,
        count(*) filter (where reached_theatres) as n_reached_theatres,
        cast({{ exact_ratio('count(*) filter (where reached_theatres)', 'count(*)') }} as decimal(9, 4))
            as reached_theatres_share,
        cast(sum(lifetime_gross_kzt) as decimal(18, 2)) as lifetime_gross_kzt,
        cast(sum(lifetime_admissions) as bigint) as lifetime_admissions,
        cast(sum(reported_gross_kzt) as decimal(18, 2)) as reported_gross_kzt,
        cast(sum(tracked_gross_kzt) as decimal(18, 2)) as tracked_gross_kzt,
        case
            when count(gross_source) = 0 then null
            when count(distinct gross_source) = 1 then any_value(gross_source)
            else 'mixed'
        end as gross_source,
        cast({{ exact_ratio('sum(lifetime_gross_kzt)', 'sum(amount_kzt)', 6) }} as decimal(18, 6))
            as recoupment_rate,
        cast(sum(rental_due_kzt) as decimal(18, 2)) as rental_due_kzt,
        bool_or(is_rental_provisional) as is_rental_provisional,
        cast({{ exact_ratio('sum(rental_due_kzt)', 'sum(amount_kzt)', 6) }} as decimal(18, 6))
            as rental_recoupment_rate,
    from outcomes
    group by grant_year
)

select * from final
