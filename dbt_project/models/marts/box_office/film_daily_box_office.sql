{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='business_date',
        pre_hook="{{ clear_session_window(open_ended=true) }}",
        post_hook="{{ refresh_provisional_flags() }}",
        on_schema_change='fail',
    )
}}

{#- Running figures (cumulative, day-over-day, week-over-week) depend on earlier days, so the window
    is rebuilt from its first day to the last day on record: a backfilled day rewrites what follows. -#}

with

film_days as (
    select * from {{ ref('int_film_days_aggregated') }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

national_coverage as (
    select * from {{ ref('int_national_days_covered') }}
),

lifetimes as (
    select * from {{ ref('int_film_lifetimes') }}
),

running as (
    select
        film_days.*,
        sum(gross_kzt) over film_history as cumulative_gross_kzt,
        sum(admissions) over film_history as cumulative_admissions,
        min(business_date) over (partition by film_id) as first_screening_date,
    from film_days
    window film_history as (
        partition by film_id order by business_date rows between unbounded preceding and current row
    )
),

ranked as (
    select
        *,
        rank() over (partition by business_date order by gross_kzt desc, admissions desc) as rank_of_day,
    from film_days
    where {{ in_session_window('business_date', open_ended=true) }}
),

final as (
    select
        ranked.film_id,
        ranked.business_date,
        films.title,
        ranked.gross_kzt,
        ranked.sales_kzt,
        ranked.refunds_kzt,
        ranked.admissions,
        ranked.paid_admissions,
        ranked.n_screenings,
        ranked.n_cinemas,
        ranked.n_screens,
        cast({{ exact_ratio('ranked.gross_kzt', 'ranked.paid_admissions', 2) }} as decimal(18, 2))
            as avg_ticket_price_kzt,
        cast({{ exact_ratio('ranked.admissions', 'ranked.seats_offered', 4) }} as decimal(9, 4))
            as occupancy_rate,
        cast(ranked.rank_of_day as integer) as rank_of_day,
        previous_day.gross_kzt as previous_day_gross_kzt,
        cast(ranked.gross_kzt - previous_day.gross_kzt as decimal(18, 2)) as gross_change_dod_kzt,
        cast(
            {{ exact_ratio('ranked.gross_kzt - previous_day.gross_kzt', 'previous_day.gross_kzt', 4) }}
            as decimal(12, 4)
        ) as gross_change_dod_rate,
        previous_week.gross_kzt as previous_week_gross_kzt,
        cast(ranked.gross_kzt - previous_week.gross_kzt as decimal(18, 2)) as gross_change_wow_kzt,
        cast(
            {{ exact_ratio('ranked.gross_kzt - previous_week.gross_kzt', 'previous_week.gross_kzt', 4) }}
            as decimal(12, 4)
        ) as gross_change_wow_rate,
        -- From release: the reported history before the film's first tracked day, then what was tracked.
        cast(coalesce(lifetimes.reported_gross_kzt, 0) + running.cumulative_gross_kzt as decimal(18, 2))
            as cumulative_gross_kzt,
        cast(coalesce(lifetimes.reported_admissions, 0) + running.cumulative_admissions as bigint)
            as cumulative_admissions,
        cast(running.cumulative_gross_kzt as decimal(18, 2)) as tracked_cumulative_gross_kzt,
        cast(running.cumulative_admissions as bigint) as tracked_cumulative_admissions,
        cast(coalesce(lifetimes.reported_gross_kzt, 0) as decimal(18, 2)) as reported_gross_kzt,
        cast(coalesce(lifetimes.reported_admissions, 0) as bigint) as reported_admissions,
        lifetimes.reported_through_date,
        case when coalesce(lifetimes.gross_source, 'tracked') = 'tracked' then 'tracked' else 'mixed' end
            as gross_source,
        -- Counted from the release date in the registry, or from the first screening on record.
        cast(
            ranked.business_date - coalesce(films.release_date, running.first_screening_date) + 1 as integer
        ) as days_in_release,
        national_coverage.cinemas_reporting,
        national_coverage.cinemas_connected,
        national_coverage.cinemas_total,
        len({{ provisional_reasons('ranked.business_date', 'national_coverage') }}) > 0 as is_provisional,
        {{ provisional_reasons('ranked.business_date', 'national_coverage') }} as provisional_reasons,
        {{ exclusion_columns('national_coverage') }}
    from ranked
    inner join running
        on ranked.film_id = running.film_id
        and ranked.business_date = running.business_date
    left join films
        on ranked.film_id = films.film_id
    left join film_days as previous_day
        on ranked.film_id = previous_day.film_id
        and ranked.business_date - 1 = previous_day.business_date
    left join film_days as previous_week
        on ranked.film_id = previous_week.film_id
        and ranked.business_date - 7 = previous_week.business_date
    left join national_coverage
        on ranked.business_date = national_coverage.business_date
    left join lifetimes
        on ranked.film_id = lifetimes.film_id
)

select * from final
