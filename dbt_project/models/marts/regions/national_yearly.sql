{#- The nation's years: the ministry's published totals, or e-Kino's tracked figures where tracking
    covers a whole year with every day final (tracked wins then). Film-level figures (domestic share,
    the top 20) combine each film's reported periods before its first tracked day with its tracked
    days, so nothing counts twice; a film week counts in the year of its Thursday. Rebuilt whole on
    each build. -#}

with

history as (
    select * from {{ ref('stg_raw__box_office_history') }}
),

periods as (
    select * from {{ ref('int_reported_periods_reconciled') }}
    where is_counted
),

film_days as (
    select * from {{ ref('int_film_days_aggregated') }}
),

national_days as (
    select * from {{ ref('national_daily') }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

published as (
    select
        cast(year(period_start) as integer) as year,
        gross_kzt,
        admissions,
        source_date,
    from history
    where film_id is null
),

tracked as (
    select
        cast(year(business_date) as integer) as year,
        cast(sum(gross_kzt) as decimal(18, 2)) as gross_kzt,
        cast(sum(admissions) as bigint) as admissions,
        cast(sum(paid_admissions) as bigint) as paid_admissions,
        count(*) as n_days_tracked,
        count(*) filter (where not is_provisional) as n_days_final,
    from national_days
    group by all
),

film_years as (
    select
        film_id,
        year,
        cast(sum(gross_kzt) as decimal(18, 2)) as gross_kzt,
    from (
        select film_id, cast(year(period_start) as integer) as year, gross_kzt from periods
        union all
        select film_id, cast(year(business_date) as integer) as year, gross_kzt from film_days
    ) as film_periods
    group by all
),

film_years_ranked as (
    select
        film_years.*,
        coalesce(films.is_domestic, false) as is_domestic,
        row_number()
            over (partition by film_years.year order by film_years.gross_kzt desc, film_years.film_id asc)
            as rank_of_year,
    from film_years
    left join films
        on film_years.film_id = films.film_id
),

film_figures as (
    select
        year,
        cast(sum(gross_kzt) as decimal(18, 2)) as films_gross_kzt,
        cast(sum(gross_kzt) filter (where is_domestic) as decimal(18, 2)) as domestic_gross_kzt,
        count(*) filter (where rank_of_year <= 20) as n_top20,
        count(*) filter (where rank_of_year <= 20 and is_domestic) as n_top20_domestic,
    from film_years_ranked
    group by year
),

years as (
    select
        year,
        make_date(year, 1, 1) as first_day,
        make_date(year, 12, 31) as last_day,
    from (
        select year from published
        union
        select year from tracked
    ) as years_on_record
),

combined as (
    select
        years.year,
        cast(years.last_day - years.first_day + 1 as integer) as n_days_in_year,
        published.gross_kzt as reported_gross_kzt,
        published.admissions as reported_admissions,
        published.source_date as reported_source_date,
        tracked.gross_kzt as tracked_gross_kzt,
        tracked.admissions as tracked_admissions,
        tracked.paid_admissions as tracked_paid_admissions,
        cast(coalesce(tracked.n_days_tracked, 0) as integer) as n_days_tracked,
        cast(coalesce(tracked.n_days_final, 0) as integer) as n_days_final,
        years.last_day >= {{ as_of_date() }} as is_year_open,
        film_figures.films_gross_kzt,
        film_figures.domestic_gross_kzt,
        film_figures.n_top20,
        film_figures.n_top20_domestic,
    from years
    left join published
        on years.year = published.year
    left join tracked
        on years.year = tracked.year
    left join film_figures
        on years.year = film_figures.year
),

chosen as (
    select
        *,
        n_days_final = n_days_in_year as is_fully_tracked,
        case
            when n_days_final = n_days_in_year or reported_gross_kzt is null then tracked_gross_kzt
            else reported_gross_kzt
        end as gross_kzt,
        case
            when n_days_final = n_days_in_year or reported_gross_kzt is null then tracked_admissions
            else reported_admissions
        end as admissions,
        case
            when n_days_final = n_days_in_year or reported_gross_kzt is null then 'tracked'
            when n_days_tracked > 0 then 'mixed'
            else 'reported'
        end as source,
    from combined
),

flagged as (
    select
        chosen.*,
        -- Why the year's figures may still change: it has not ended, or tracking (the year's only
        -- source) misses days or holds days that are still provisional.
        list_filter(
            [
                case when chosen.is_year_open then 'year_open' end,
                case when chosen.source = 'tracked' and chosen.n_days_tracked < chosen.n_days_in_year
                    then 'days_not_tracked' end,
                case when chosen.source = 'tracked' and chosen.n_days_final < chosen.n_days_tracked
                    then 'days_provisional' end,
            ]::varchar[],
            lambda reason: reason is not null
        ) as provisional_reasons,
    from chosen
),

final as (
    select
        chosen.year,
        chosen.gross_kzt,
        chosen.admissions,
        cast({{ exact_ratio('chosen.gross_kzt', 'chosen.admissions', 2) }} as decimal(18, 2))
            as avg_ticket_price_kzt,
        previous.gross_kzt as previous_year_gross_kzt,
        cast(comparable.gross_kzt - previous.gross_kzt as decimal(18, 2)) as gross_change_kzt,
        cast(
            {{ exact_ratio('comparable.gross_kzt - previous.gross_kzt', 'previous.gross_kzt', 4) }}
            as decimal(12, 4)
        ) as gross_change_rate,
        cast({{ exact_ratio('chosen.domestic_gross_kzt', 'chosen.films_gross_kzt') }} as decimal(9, 4))
            as domestic_gross_share,
        cast(coalesce(chosen.n_top20_domestic, 0) as integer) as n_top20_domestic,
        cast({{ exact_ratio('chosen.n_top20_domestic', 'chosen.n_top20') }} as decimal(9, 4))
            as top20_domestic_share,
        chosen.source,
        chosen.reported_gross_kzt,
        chosen.reported_admissions,
        chosen.reported_source_date,
        chosen.tracked_gross_kzt,
        chosen.tracked_admissions,
        chosen.films_gross_kzt,
        chosen.n_days_tracked,
        chosen.n_days_final,
        chosen.n_days_in_year,
        len(chosen.provisional_reasons) > 0 as is_provisional,
        chosen.provisional_reasons,
    from flagged as chosen
    -- A year that covers only some of its days is no basis for a change on the previous year.
    left join flagged as comparable
        on chosen.year = comparable.year
        and not list_contains(comparable.provisional_reasons, 'days_not_tracked')
    left join flagged as previous
        on chosen.year - 1 = previous.year
        and not list_contains(previous.provisional_reasons, 'days_not_tracked')
)

select * from final
