{#- The box office of each cinema, film and film week, with the taxes in it. Taxes follow the rule in
    effect on each day and are rounded half away from zero to the tiyn per cinema, film and day (as a
    daily ticket return states them); the week's tax is the sum of its days. Whether each day of the
    week is complete for the cinema comes from int_session_days_completeness. -#}

with

sessions as (
    select * from {{ ref('int_sessions_aggregated') }}
    where {{ in_film_week_window(film_week_start('business_date')) }}
),

completeness as (
    select * from {{ ref('int_session_days_completeness') }}
    where {{ in_film_week_window(film_week_start('business_date')) }}
),

tax_rules as (
    select * from {{ ref('stg_raw__tax_rules') }}
),

cinema_film_days as (
    select
        cinema_id,
        film_id,
        business_date,
        sum(gross_kzt) as gross_kzt,
        sum(admissions) as admissions,
        count(*) as n_sessions,
    from sessions
    group by cinema_id, film_id, business_date
),

taxed_days as (
    select
        cinema_film_days.*,
        tax_rules.rule_id,
        {{ exact_ratio(
            'cinema_film_days.gross_kzt * cast(tax_rules.vat_rate_pct * 100 as integer)',
            '(100 + tax_rules.vat_rate_pct) * 100',
            2
        ) }} as vat_kzt,
    from cinema_film_days
    left join tax_rules
        on cinema_film_days.business_date >= tax_rules.effective_from
        and (tax_rules.effective_to is null or cinema_film_days.business_date <= tax_rules.effective_to)
),

levied_days as (
    select
        taxed_days.*,
        {{ exact_ratio(
            '(taxed_days.gross_kzt - taxed_days.vat_kzt) * cast(tax_rules.film_fund_levy_pct * 100 as integer)',
            '10000',
            2
        ) }} as levy_kzt,
    from taxed_days
    left join tax_rules
        on taxed_days.rule_id = tax_rules.rule_id
),

weeks as (
    select
        cinema_id,
        film_id,
        {{ film_week_start('business_date') }} as film_week_start,
        cast(sum(gross_kzt) as decimal(18, 2)) as gross_kzt,
        cast(sum(admissions) as bigint) as admissions,
        cast(sum(n_sessions) as integer) as n_sessions,
        cast(sum(vat_kzt) as decimal(18, 2)) as vat_kzt,
        cast(sum(levy_kzt) as decimal(18, 2)) as levy_kzt,
        -- A day with box office and no tax rule in effect cannot be settled.
        bool_or(rule_id is null) as has_days_without_tax_rule,
    from levied_days
    group by all
),

-- The same flags the daily marts' provisional_reasons read, over the cinema's seven days: a day with
-- no completeness row is not on record yet and counts as missing.
week_completeness as (
    select
        cinema_id,
        {{ film_week_start('business_date') }} as film_week_start,
        count(*) as n_days_on_record,
        bool_or(reporting_state in ('failed', 'not_pulled')) as has_days_missing,
        bool_or(reporting_state = 'silent') as has_days_silent,
        bool_or(not is_presales_loaded) as has_presales_not_loaded,
        bool_or(not is_next_day_loaded) as has_late_sales_not_loaded,
        bool_or(reporting_state = 'quarantined' or n_quarantined_events + n_quarantined_sessions > 0)
            as has_records_quarantined,
        count(*) filter (where reporting_state in ('failed', 'not_pulled')) as n_days_failed,
        count(*) filter (where reporting_state = 'silent') as n_days_silent,
        sum(quarantined_gross_kzt_claimed) as quarantined_gross_kzt_claimed,
    from completeness
    group by all
),

final as (
    select
        weeks.cinema_id,
        weeks.film_id,
        weeks.film_week_start,
        cast(weeks.film_week_start + 6 as date) as film_week_end,
        weeks.gross_kzt,
        weeks.admissions,
        weeks.n_sessions,
        weeks.vat_kzt,
        weeks.levy_kzt,
        cast(weeks.vat_kzt + weeks.levy_kzt as decimal(18, 2)) as tax_kzt,
        cast(weeks.gross_kzt - weeks.vat_kzt - weeks.levy_kzt as decimal(18, 2)) as net_kzt,
        weeks.has_days_without_tax_rule,
        cast(coalesce(week_completeness.n_days_on_record, 0) as integer) as n_days_on_record,
        -- Named like int_region_days_covered's flags, so macros/provisional.sql states the reasons.
        case
            when week_completeness.film_week_start is not null then cast(weeks.film_week_start + 6 as date)
        end
            as business_date,
        coalesce(week_completeness.has_days_missing, false)
            or coalesce(week_completeness.n_days_on_record, 0) < 7 as has_cinemas_missing,
        coalesce(week_completeness.has_days_silent, false) as has_cinemas_silent,
        coalesce(week_completeness.has_presales_not_loaded, false) as has_presales_not_loaded,
        coalesce(week_completeness.has_late_sales_not_loaded, false) as has_late_sales_not_loaded,
        coalesce(week_completeness.has_records_quarantined, false) as has_records_quarantined,
        -- What the week leaves out for the cinema: days its box office is missing (a pull failed or
        -- was not made, or the day is not on record), silent days, money its quarantined records claim.
        cast(
            coalesce(week_completeness.n_days_failed, 0) + 7 - coalesce(week_completeness.n_days_on_record, 0)
            as integer
        ) as n_days_missing,
        cast(coalesce(week_completeness.n_days_silent, 0) as integer) as n_days_silent,
        cast(coalesce(week_completeness.quarantined_gross_kzt_claimed, 0) as decimal(18, 2))
            as quarantined_gross_kzt_claimed,
    from weeks
    left join week_completeness
        on weeks.cinema_id = week_completeness.cinema_id
        and weeks.film_week_start = week_completeness.film_week_start
)

select * from final
