{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='film_week_start',
        pre_hook="{{ clear_film_week_window() }}",
        on_schema_change='fail',
    )
}}

{#- One row per cinema and film week with sessions: how many films the integrity rules judged, how many
    findings they raised and by which rules, the gross of the sessions the findings name (each session
    once) against the cinema's gross that week, and the rules that could not judge part of the week
    (hall_overlap without a film's runtime). -#}

with

sessions as (
    select * from {{ ref('int_integrity_sessions') }}
    where {{ in_film_week_window('film_week_start') }}
),

cells as (
    select * from {{ ref('int_integrity_cells') }}
),

covered as (
    select * from {{ ref('int_integrity_weeks_covered') }}
),

cinemas as (
    select * from {{ ref('stg_raw__cinemas') }}
),

weeks as (
    select
        cinema_id,
        film_week_start,
        any_value(region_code) as region_code,
        count(*) as n_sessions,
        count(distinct film_id) as n_films,
        sum(gross_kzt) as gross_kzt,
    from sessions
    group by cinema_id, film_week_start
),

verdicts as (
    select
        cinema_id,
        film_week_start,
        count(*) filter (where is_finding) as n_findings,
        count(distinct film_id) filter (where is_finding) as n_films_found,
        list(distinct rule order by rule) filter (where is_finding) as rules_found,
        list(distinct rule order by rule) filter (where not is_judged) as rules_not_judged,
        flatten(list(session_ids) filter (where is_finding)) as named_sessions,
    from cells
    group by cinema_id, film_week_start
),

named as (
    select
        verdicts.cinema_id,
        verdicts.film_week_start,
        sum(sessions.gross_kzt) as flagged_gross_kzt,
    from verdicts
    inner join sessions
        on verdicts.cinema_id = sessions.cinema_id
        and verdicts.film_week_start = sessions.film_week_start
        and list_contains(verdicts.named_sessions, sessions.session_id)
    group by all
),

final as (
    select
        weeks.cinema_id,
        cinemas.cinema_name,
        weeks.region_code,
        weeks.film_week_start,
        cast(weeks.film_week_start + 6 as date) as film_week_end,
        cast(weeks.n_sessions as integer) as n_sessions,
        cast(weeks.n_films as integer) as n_films,
        cast(coalesce(verdicts.n_findings, 0) as integer) as n_findings,
        cast(coalesce(verdicts.n_films_found, 0) as integer) as n_films_found,
        coalesce(verdicts.rules_found, []::varchar[]) as rules_found,
        coalesce(verdicts.rules_not_judged, []::varchar[]) as rules_not_judged,
        cast(weeks.gross_kzt as decimal(18, 2)) as gross_kzt,
        cast(coalesce(named.flagged_gross_kzt, 0) as decimal(18, 2)) as flagged_gross_kzt,
        {%- set reasons = provisional_reasons('weeks.film_week_start + 6', 'covered') %}
        len({{ reasons }}) > 0 as is_provisional,
        {{ reasons }} as provisional_reasons,
        {{ day_exclusions('covered') }} as exclusions,
    from weeks
    left join verdicts
        on weeks.cinema_id = verdicts.cinema_id
        and weeks.film_week_start = verdicts.film_week_start
    left join named
        on weeks.cinema_id = named.cinema_id
        and weeks.film_week_start = named.film_week_start
    left join covered
        on weeks.cinema_id = covered.cinema_id
        and weeks.film_week_start = covered.film_week_start
    left join cinemas
        on weeks.cinema_id = cinemas.cinema_id
)

select * from final
