{{ config(tags=['after_forecasts']) }}

{#- funding_outcomes with, for each funded film still showing on the day the build stands on (the
    window's last business day), its latest published forecast: predicted lifetime gross and the share
    of the grant it would earn back, with the 80% interval and the forecast's provenance. The forecasts
    are computed after the marts (Dagster asset film_forecasts) and read from the exports
    (macros/published_forecasts.sql), so this mart is built after them, by a dbt asset of its own.
    forecast_status says why a row has no forecast. Rebuilt whole on each build. -#}

{#- Without a window (a plain dbt build), the latest day forecast. -#}
{%- set end_date = var('end_date') %}
{%- set forecast_day = "date '" ~ end_date ~ "'" if end_date else "(select max(as_of_date) from forecasts)" %}

with

outcomes as (
    select * from {{ ref('funding_outcomes') }}
),

forecasts as (
    {{ published_forecasts() }}
),

film_days as (
    select * from {{ ref('int_film_days_aggregated') }}
),

as_of as (
    select {{ forecast_day }} as forecast_as_of_date
),

-- Films with a ticket sold on the day: in release that day (the forecasts' own rule).
showing as (
    select distinct film_days.film_id
    from film_days
    inner join as_of
        on film_days.business_date = as_of.forecast_as_of_date
    where film_days.gross_kzt > 0
),

latest as (
    select forecasts.*
    from forecasts
    inner join as_of
        on forecasts.as_of_date = as_of.forecast_as_of_date
    qualify row_number() over (partition by forecasts.film_id order by forecasts.published_at desc) = 1
),

final as (
    select
        outcomes.*,
        as_of.forecast_as_of_date,
        case
            when latest.film_id is not null then 'forecast'
            when not outcomes.reached_theatres then 'not_in_theatres'
            when showing.film_id is null then 'not_showing'
            else 'no_forecast'
        end as forecast_status,
        latest.predicted_gross_kzt,
        latest.predicted_gross_low_kzt,
        latest.predicted_gross_high_kzt,
        cast(
            {{ exact_ratio('latest.predicted_gross_kzt', 'outcomes.amount_kzt', 6) }} as decimal(18, 6)
        ) as predicted_recoupment_rate,
        cast(
            {{ exact_ratio('latest.predicted_gross_low_kzt', 'outcomes.amount_kzt', 6) }} as decimal(18, 6)
        ) as predicted_recoupment_low,
        cast(
            {{ exact_ratio('latest.predicted_gross_high_kzt', 'outcomes.amount_kzt', 6) }} as decimal(18, 6)
        ) as predicted_recoupment_high,
        latest.predicted_weeks_in_release,
        latest.days_since_release as forecast_days_since_release,
        latest.model_version as forecast_model_version,
        latest.data_as_of as forecast_data_as_of,
        latest.training_cutoff as forecast_training_cutoff,
        latest.published_at as forecast_published_at,
    from outcomes
    cross join as_of
    left join latest
        on outcomes.film_id = latest.film_id
    left join showing
        on outcomes.film_id = showing.film_id
)

select * from final
