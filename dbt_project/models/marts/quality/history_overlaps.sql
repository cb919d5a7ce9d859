{#- The data-quality finding of lifetime figures: each reported period that tracking superseded (it
    reaches the film's first tracked day), with what each source says. Rebuilt whole on each build. -#}

with

periods as (
    select * from {{ ref('int_reported_periods_reconciled') }}
    where not is_counted
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

final as (
    select
        periods.film_id,
        periods.period,
        periods.period_start,
        films.title,
        periods.period_end,
        periods.reported_by,
        periods.source_date,
        periods.first_tracked_date,
        cast(periods.n_days_tracked as integer) as n_days_tracked,
        cast(periods.period_end - periods.period_start + 1 as integer) as n_days_in_period,
        periods.gross_kzt as reported_gross_kzt,
        periods.admissions as reported_admissions,
        periods.tracked_gross_kzt,
        periods.tracked_admissions,
        cast(periods.gross_kzt - periods.tracked_gross_kzt as decimal(18, 2)) as gross_difference_kzt,
        cast(periods.admissions - periods.tracked_admissions as bigint) as admissions_difference,
        case
            when periods.n_days_tracked = 0 then 'not_tracked'
            when periods.gross_kzt = periods.tracked_gross_kzt
                and periods.admissions = periods.tracked_admissions
                then 'agrees'
            else 'differs'
        end as finding,
    from periods
    left join films
        on periods.film_id = films.film_id
)

select * from final
