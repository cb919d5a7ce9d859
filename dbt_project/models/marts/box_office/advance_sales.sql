{#- Advance sales, as the trade tracks upcoming releases: for every film and session day after the last
    day whose ticket events were pulled (sales_through_date), the tickets sold so far for the sessions
    the cinemas have listed. Rebuilt whole on each build from the last presale_horizon_days of events.
    Provisional by nature: sales go on until the session starts. Sales for sessions not yet listed are
    not here (they show as unknown_session anomalies once their day passes unlisted). -#}

{%- set horizon = var('presale_horizon_days') | int %}

with

through as (
    select max(business_date) as sales_through_date
    from {{ ref('stg_raw__landing_manifests') }}
    where dataset = 'ticket_events' and is_success
),

sessions as (
    select sessions.*, through.sales_through_date
    from {{ ref('stg_raw__sessions') }} as sessions
    cross join through
    where sessions.session_date > through.sales_through_date
),

events as (
    select events.*
    from {{ ref('int_ticket_events_attributed') }} as events
    cross join through
    where events.event_date >= through.sales_through_date - {{ horizon }}
        and events.session_id in (select session_id from sessions)
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

national_coverage as (
    select * from {{ ref('int_national_days_covered') }}
),

session_sales as (
    {{ session_ticket_totals('events') }}
),

film_days as (
    select
        sessions.film_id,
        sessions.session_date,
        any_value(sessions.sales_through_date) as sales_through_date,
        count(*) as n_sessions_listed,
        count(session_sales.session_id) filter (where session_sales.n_tickets_sold > 0)
            as n_sessions_with_sales,
        count(distinct sessions.cinema_id) as n_cinemas_listing,
        sum(coalesce(session_sales.n_tickets_sold, 0)) as n_tickets_sold,
        sum(coalesce(session_sales.n_tickets_refunded, 0)) as n_tickets_refunded,
        sum(coalesce(session_sales.sales_kzt, 0)) as sales_kzt,
        sum(coalesce(session_sales.refunds_kzt, 0)) as refunds_kzt,
        max(session_sales.last_event_at) as last_event_at,
    from sessions
    left join session_sales
        on sessions.session_id = session_sales.session_id
    group by sessions.film_id, sessions.session_date
),

final as (
    select
        film_days.film_id,
        films.title,
        films.release_date,
        coalesce(films.is_domestic, false) as is_domestic,
        film_days.session_date,
        film_days.sales_through_date,
        cast(film_days.session_date - film_days.sales_through_date as integer) as days_ahead,
        coalesce(film_days.session_date < films.release_date, false) as is_before_release,
        cast(film_days.n_sessions_listed as bigint) as n_sessions_listed,
        cast(film_days.n_sessions_with_sales as bigint) as n_sessions_with_sales,
        cast(film_days.n_cinemas_listing as bigint) as n_cinemas_listing,
        cast(film_days.n_tickets_sold as bigint) as n_tickets_sold,
        cast(film_days.n_tickets_refunded as bigint) as n_tickets_refunded,
        cast(film_days.n_tickets_sold - film_days.n_tickets_refunded as bigint) as admissions_so_far,
        cast(film_days.sales_kzt as decimal(18, 2)) as sales_kzt,
        cast(film_days.refunds_kzt as decimal(18, 2)) as refunds_kzt,
        cast(film_days.sales_kzt - film_days.refunds_kzt as decimal(18, 2)) as gross_kzt,
        film_days.last_event_at,
        rank() over (
            partition by film_days.session_date
            order by film_days.sales_kzt - film_days.refunds_kzt desc, film_days.film_id
        )::integer as rank_of_session_day,
        national_coverage.cinemas_reporting,
        national_coverage.cinemas_connected,
        national_coverage.cinemas_total,
        true as is_provisional,
        ['sales_open']::varchar[] as provisional_reasons,
    from film_days
    left join films
        on film_days.film_id = films.film_id
    left join national_coverage
        on film_days.sales_through_date = national_coverage.business_date
)

select * from final
