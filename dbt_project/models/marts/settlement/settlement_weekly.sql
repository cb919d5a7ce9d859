{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='film_week_start',
        pre_hook="{{ clear_film_week_window() }}",
        on_schema_change='fail',
    )
}}

{#- What each cinema owes each film's distributor for a film week. The terms in effect on the week's
    Thursday settle the whole week, the most specific first (a cinema's own, its chain's, the film's).
    Rental percentages apply to the net box office (gross less VAT and levy).
    Rounding: VAT and levy half away from zero to the tiyn per cinema, film and day (see
    int_cinema_film_weeks_taxed); the rental half away from zero to the tiyn once per week; the exhibitor
    share is what remains, so gross = tax + rental due + exhibitor share exactly. -#}

with

weeks as (
    select * from {{ ref('int_cinema_film_weeks_taxed') }}
),

cinemas as (
    select * from {{ ref('stg_raw__cinemas') }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

-- The integrity rules that found something on the line's cinema, film and week (integrity_findings).
integrity as (
    select
        cinema_id,
        film_id,
        film_week_start,
        list(distinct rule order by rule) as rules,
    from {{ ref('integrity_findings') }}
    group by all
),

terms as (
    select * from {{ ref('stg_raw__rental_terms') }}
),

terms_in_effect as (
    select
        weeks.cinema_id,
        weeks.film_id,
        weeks.film_week_start,
        terms.* exclude (film_id, cinema_id),
    from weeks
    inner join cinemas
        on weeks.cinema_id = cinemas.cinema_id
    inner join terms
        on weeks.film_id = terms.film_id
        and weeks.film_week_start >= terms.effective_from
        and (terms.effective_to is null or weeks.film_week_start <= terms.effective_to)
        and (
            terms.scope = 'film'
            or (terms.scope = 'chain' and terms.chain = cinemas.chain)
            or (terms.scope = 'cinema' and terms.cinema_id = weeks.cinema_id)
        )
    qualify row_number() over (
        partition by weeks.cinema_id, weeks.film_id, weeks.film_week_start
        order by case terms.scope when 'cinema' then 1 when 'chain' then 2 else 3 end
    ) = 1
),

-- Weeks since the release week, from 1; a preview before the release counts as week 1.
released as (
    select
        weeks.*,
        cast(greatest(
            1,
            (weeks.film_week_start - {{ film_week_start('films.release_date') }}) // 7 + 1
        ) as integer) as week_of_release,
        films.distributor as film_distributor,
    from weeks
    left join films
        on weeks.film_id = films.film_id
),

priced as (
    select
        released.*,
        terms_in_effect.terms_id,
        terms_in_effect.distributor as terms_distributor,
        terms_in_effect.method,
        terms_in_effect.terms_version,
        terms_in_effect.house_allowance_kzt,
        terms_in_effect.fee_kzt,
        terms_in_effect.minimum_guarantee_kzt,
        case
            when terms_in_effect.method = 'sliding_by_week'
                then terms_in_effect.rates_pct[
                    least(released.week_of_release, len(terms_in_effect.rates_pct))
                ]
            when terms_in_effect.method in ('fixed_percentage', 'house_allowance', 'minimum_guarantee')
                then terms_in_effect.rates_pct[1]
        end as rate_pct,
    from released
    left join terms_in_effect
        on released.cinema_id = terms_in_effect.cinema_id
        and released.film_id = terms_in_effect.film_id
        and released.film_week_start = terms_in_effect.film_week_start
),

rental as (
    select
        priced.*,
        case method
            when 'sliding_by_week'
                then {{ exact_ratio('net_kzt * cast(rate_pct * 100 as integer)', '10000', 2) }}
            when 'fixed_percentage'
                then {{ exact_ratio('net_kzt * cast(rate_pct * 100 as integer)', '10000', 2) }}
            when 'house_allowance'
                then {{ exact_ratio(
                    'greatest(net_kzt - house_allowance_kzt, 0) * cast(rate_pct * 100 as integer)', '10000', 2
                ) }}
            when 'flat_fee_per_session' then n_sessions * fee_kzt
            when 'flat_fee_per_week' then fee_kzt
            when 'minimum_guarantee'
                then greatest(
                    {{ exact_ratio('net_kzt * cast(rate_pct * 100 as integer)', '10000', 2) }},
                    minimum_guarantee_kzt
                )
        end as rental_due_exact_kzt,
    from priced
),

final as (
    select
        rental.cinema_id,
        rental.film_id,
        rental.film_week_start,
        rental.film_week_end,
        cinemas.cinema_name,
        cinemas.chain,
        cinemas.region_code,
        films.title,
        coalesce(rental.terms_distributor, rental.film_distributor) as distributor,
        rental.week_of_release,
        rental.gross_kzt,
        rental.admissions,
        rental.n_sessions,
        rental.vat_kzt,
        rental.levy_kzt,
        rental.tax_kzt,
        rental.net_kzt,
        rental.terms_id,
        rental.method,
        rental.terms_version,
        cast(rental.rate_pct as decimal(5, 2)) as rate_pct,
        cast(rental.rental_due_exact_kzt as decimal(18, 2)) as rental_due_kzt,
        cast(rental.gross_kzt - rental.tax_kzt - rental.rental_due_exact_kzt as decimal(18, 2))
            as exhibitor_share_kzt,
        rental.n_days_on_record,
        -- A line without its terms or tax rule cannot be settled: it stays provisional past closing.
        {%- set reasons = provisional_reasons('rental.film_week_end', 'rental', holding=[
            "case when rental.terms_id is null then 'rental_terms_missing' end",
            "case when rental.has_days_without_tax_rule then 'tax_rule_missing' end",
        ]) %}
        len({{ reasons }}) > 0 as is_provisional,
        {{ reasons }} as provisional_reasons,
        {{ day_exclusions('rental') }} as exclusions,
        rental.n_days_missing,
        rental.n_days_silent,
        rental.quarantined_gross_kzt_claimed as excluded_quarantined_gross_kzt,
        coalesce(integrity.rules, []::varchar[]) as integrity_findings,
    from rental
    left join cinemas
        on rental.cinema_id = cinemas.cinema_id
    left join films
        on rental.film_id = films.film_id
    left join integrity
        on rental.cinema_id = integrity.cinema_id
        and rental.film_id = integrity.film_id
        and rental.film_week_start = integrity.film_week_start
)

select * from final
