{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='film_week_start',
        pre_hook="{{ clear_film_week_window() }}",
        on_schema_change='fail',
    )
}}

{#- One row per integrity finding: a cinema x film x film week (x hour band) that a rule of
    models/intermediate/integrity finds far from the norms learnt from the cinema's and the nation's
    history, with the rule, its score against its threshold, the evidence in words and the sessions it
    names, and the money involved (the gross of those sessions). A finding is a suspicion to look into,
    not a verdict. Rebuilt for the film weeks of each build's window. -#}

with

cells as (
    select * from {{ ref('int_integrity_cells') }}
    where is_finding
),

covered as (
    select * from {{ ref('int_integrity_weeks_covered') }}
),

cinemas as (
    select * from {{ ref('stg_raw__cinemas') }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

final as (
    select
        cells.finding_id,
        cells.rule,
        cells.cinema_id,
        cinemas.cinema_name,
        cells.region_code,
        cells.film_id,
        films.title,
        cells.film_week_start,
        cast(cells.film_week_start + 6 as date) as film_week_end,
        cells.detail,
        cast(round(cells.score, 2) as decimal(12, 2)) as score,
        cast(round(cells.threshold, 2) as decimal(12, 2)) as threshold,
        cast(round(cells.observed, 4) as decimal(18, 4)) as observed,
        cast(round(cells.expected, 4) as decimal(18, 4)) as expected,
        cells.evidence,
        cells.n_sessions,
        cells.n_tickets,
        cells.session_ids,
        cells.money_kzt,
        {%- set reasons = provisional_reasons('cells.film_week_start + 6', 'covered') %}
        len({{ reasons }}) > 0 as is_provisional,
        {{ reasons }} as provisional_reasons,
        {{ day_exclusions('covered') }} as exclusions,
    from cells
    left join covered
        on cells.cinema_id = covered.cinema_id
        and cells.film_week_start = covered.film_week_start
    left join cinemas
        on cells.cinema_id = cinemas.cinema_id
    left join films
        on cells.film_id = films.film_id
)

select * from final
