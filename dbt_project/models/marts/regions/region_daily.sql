{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='business_date',
        pre_hook="{{ clear_session_window() }}",
        post_hook="{{ refresh_provisional_flags() }}",
        on_schema_change='fail',
    )
}}

with

sessions as (
    select * from {{ ref('int_sessions_aggregated') }}
    where {{ in_session_window('business_date') }}
),

coverage as (
    select * from {{ ref('int_region_days_covered') }}
    where {{ in_session_window('business_date') }}
),

regions as (
    select * from {{ ref('stg_raw__regions') }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

-- Every region appears on every day the window knows of: zeros when its connected cinemas screened
-- nothing, nulls when it has none connected.
days as (
    select business_date from coverage
    union
    select business_date from sessions
),

region_totals as (
    select
        sessions.region_code,
        sessions.business_date,
        sum(sessions.gross_kzt) as gross_kzt,
        sum(sessions.sales_kzt) as sales_kzt,
        sum(sessions.refunds_kzt) as refunds_kzt,
        sum(sessions.admissions) as admissions,
        sum(sessions.paid_admissions) as paid_admissions,
        count(*) as n_screenings,
        count(distinct sessions.cinema_id) as n_cinemas_screening,
        count(distinct sessions.film_id) as n_films,
        sum(sessions.gross_kzt) filter (where films.is_domestic) as domestic_gross_kzt,
        sum(sessions.admissions) filter (where sessions.audio_language = 'kk') as kazakh_language_admissions,
    from sessions
    left join films
        on sessions.film_id = films.film_id
    group by sessions.region_code, sessions.business_date
),

-- A region with no connected cinema has no figure at all (unknown, not zero).
final as (
    select
        regions.region_code,
        regions.region_name,
        days.business_date,
        {%- for column, type in [
            ('gross_kzt', 'decimal(18, 2)'), ('sales_kzt', 'decimal(18, 2)'), ('refunds_kzt', 'decimal(18, 2)'),
            ('admissions', 'bigint'), ('paid_admissions', 'bigint'), ('n_screenings', 'bigint'),
            ('n_cinemas_screening', 'bigint'), ('n_films', 'bigint'),
        ] %}
        case
            when
                coverage.cinemas_connected > 0
                then cast(coalesce(region_totals.{{ column }}, 0) as {{ type }})
        end
            as {{ column }},
        {%- endfor %}
        cast(
            {{ exact_ratio('region_totals.gross_kzt', 'region_totals.paid_admissions', 2) }} as decimal(18, 2)
        )
            as avg_ticket_price_kzt,
        case
            when coverage.cinemas_connected > 0
                then cast(coalesce(region_totals.domestic_gross_kzt, 0) as decimal(18, 2))
        end as domestic_gross_kzt,
        cast(
            {{ exact_ratio('coalesce(region_totals.domestic_gross_kzt, 0)', 'region_totals.gross_kzt') }}
            as decimal(9, 4)
        ) as domestic_gross_share,
        case
            when coverage.cinemas_connected > 0
                then cast(coalesce(region_totals.kazakh_language_admissions, 0) as bigint)
        end as kazakh_language_admissions,
        cast(
            {{ exact_ratio(
                'coalesce(region_totals.kazakh_language_admissions, 0)', 'region_totals.admissions'
            ) }}
            as decimal(9, 4)
        ) as kazakh_language_admissions_share,
        cast(coalesce(coverage.quarantined_events, 0) as bigint) as quarantined_events,
        cast(coalesce(coverage.quarantined_sessions, 0) as bigint) as quarantined_sessions,
        cast(coalesce(coverage.quarantined_gross_kzt_claimed, 0) as decimal(18, 2))
            as quarantined_gross_kzt_claimed,
        cast(coalesce(coverage.cinemas_reporting, 0) as integer) as cinemas_reporting,
        cast(coalesce(coverage.cinemas_connected, 0) as integer) as cinemas_connected,
        cast(coalesce(coverage.cinemas_total, 0) as integer) as cinemas_total,
        {%- set no_cinema = [
            "case when coalesce(coverage.cinemas_connected, 0) = 0 then 'no_connected_cinema' end"
        ] %}
        len({{ provisional_reasons('days.business_date', 'coverage', no_cinema) }}) > 0 as is_provisional,
        {{ provisional_reasons('days.business_date', 'coverage', no_cinema) }} as provisional_reasons,
        {{ exclusion_columns('coverage', no_cinema) }}
    from regions
    cross join days
    left join region_totals
        on regions.region_code = region_totals.region_code
        and days.business_date = region_totals.business_date
    left join coverage
        on regions.region_code = coverage.region_code
        and days.business_date = coverage.business_date
)

select * from final
