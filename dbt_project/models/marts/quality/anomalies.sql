{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='business_date',
        pre_hook="{{ clear_session_window() }}",
        on_schema_change='fail',
    )
}}

{#- Findings of the fraud and error patterns seen in other national systems (KOBIS, China's box office
    audits). business_date is the day of the session concerned. A finding that depends on the absence of
    a record (a refund with no sale, an event with no session) is only raised once every pull that could
    hold that record has landed successfully, so the edge of the loaded history raises nothing. -#}

{%- set horizon = var('presale_horizon_days') | int %}

with

events as (
    select * from {{ ref('int_ticket_events_attributed') }}
    where {{ events_for_session_window('event_date') }}
),

sessions as (
    select * from {{ ref('stg_raw__sessions') }}
),

session_box_office as (
    select * from {{ ref('int_sessions_aggregated') }}
    where {{ in_session_window('business_date') }}
),

manifests as (
    select * from {{ ref('stg_raw__landing_manifests') }}
    where is_success
),

-- Each event with the day of its session: the loaded session's, else the day its id claims
-- (ALA-0001:S20240301-017 claims 2024-03-01), else the last day a presale could reach.
located as (
    select
        events.*,
        sessions.session_id is not null as is_session_known,
        sessions.starts_at,
        sessions.film_id,
        try_strptime(regexp_extract(events.session_id, ':S([0-9]{8})-', 1), '%Y%m%d')::date as claimed_date,
        coalesce(
            sessions.session_date,
            try_strptime(regexp_extract(events.session_id, ':S([0-9]{8})-', 1), '%Y%m%d')::date,
            events.event_date + {{ horizon - 1 }}
        ) as session_date,
    from events
    left join sessions
        on events.session_id = sessions.session_id
),

in_window as (
    select * from located
    where {{ in_session_window('session_date') }}
),

sales as (
    select * from in_window
    where is_sale and is_session_known
),

refunds as (
    select * from events
    where is_refund
),

sales_with_refund as (
    select
        sales.*,
        min(refunds.occurred_at) as refunded_at,
    from sales
    left join refunds
        on sales.ticket_id = refunds.ticket_id
    group by all
),

-- For each sale, the earlier tickets of the same seat and session, and how many of them still held the
-- seat (were not refunded by then). None held: a resale of a freed seat. Some held: a double sale.
seat_history as (
    select
        later.event_id,
        count(earlier.event_id) as n_earlier_tickets,
        count(earlier.event_id) filter (
            where earlier.refunded_at is null or earlier.refunded_at > later.occurred_at
        ) as n_holding_tickets,
        min(earlier.ticket_id) filter (
            where earlier.refunded_at is null or earlier.refunded_at > later.occurred_at
        ) as held_by_ticket_id,
    from sales as later
    left join sales_with_refund as earlier
        on later.session_id = earlier.session_id
        and later.seat_row = earlier.seat_row
        and later.seat_number = earlier.seat_number
        and later.ticket_id <> earlier.ticket_id
        and (earlier.occurred_at < later.occurred_at
            or (earlier.occurred_at = later.occurred_at and earlier.event_id < later.event_id))
    group by later.event_id
),

-- More tickets than seats, not counting seats sold again after their refund. The net admissions may
-- still fit the hall (refunds free seats nobody takes) while other seats are sold twice.
session_tickets as (
    select
        sales.session_id,
        count(*) as n_sold,
        count(*) filter (where seat_history.n_earlier_tickets > 0 and seat_history.n_holding_tickets = 0)
            as n_resold,
    from sales
    inner join seat_history
        on sales.event_id = seat_history.event_id
    group by sales.session_id
),

oversold_sessions as (
    select
        'oversold_session' as anomaly_type,
        session_box_office.session_id as subject_id,
        session_box_office.business_date,
        session_box_office.cinema_id,
        session_box_office.session_id,
        session_box_office.film_id,
        null::varchar as ticket_id,
        null::varchar as event_id,
        session_box_office.last_event_at as occurred_at,
        session_tickets.n_sold || ' tickets sold for hall ' || session_box_office.hall_id || ' of '
            || session_box_office.hall_seats || ' seats (' || session_tickets.n_resold
            || ' of them resold after a refund)' as details,
    from session_box_office
    inner join session_tickets
        on session_box_office.session_id = session_tickets.session_id
    where session_tickets.n_sold - session_tickets.n_resold > session_box_office.hall_seats
),

seats_sold_twice as (
    select
        'seat_sold_twice' as anomaly_type,
        sales.event_id as subject_id,
        sales.session_date as business_date,
        sales.cinema_id,
        sales.session_id,
        sales.film_id,
        sales.ticket_id,
        sales.event_id,
        sales.occurred_at,
        'row ' || sales.seat_row || ' seat ' || sales.seat_number || ' still held by ticket '
            || seat_history.held_by_ticket_id as details,
    from sales
    inner join seat_history
        on sales.event_id = seat_history.event_id
    where seat_history.n_holding_tickets > 0
),

late_sales as (
    select
        'late_sale' as anomaly_type,
        event_id as subject_id,
        session_date as business_date,
        cinema_id,
        session_id,
        film_id,
        ticket_id,
        event_id,
        occurred_at,
        'sold ' || cast(date_diff('minute', starts_at, occurred_at) as varchar)
            || ' minutes after the session started' as details,
    from sales
    where occurred_at > starts_at + interval ({{ var('late_sale_minutes') | int }}) minute
),

-- Ticket sales could have happened from presale_horizon_days before the session up to the refund.
refunds_without_sale as (
    select
        'refund_without_sale' as anomaly_type,
        in_window.event_id as subject_id,
        in_window.session_date as business_date,
        in_window.cinema_id,
        in_window.session_id,
        in_window.film_id,
        in_window.ticket_id,
        in_window.event_id,
        in_window.occurred_at,
        'refund of ' || in_window.amount_kzt || ' KZT for a ticket never sold' as details,
    from in_window
    where in_window.is_refund
        and not exists (
            select 1 from events
            where events.is_sale and events.ticket_id = in_window.ticket_id
        )
        and (
            select count(*) from manifests
            where manifests.dataset = 'ticket_events'
                and manifests.cinema_id = in_window.cinema_id
                and manifests.business_date
                    between in_window.session_date - {{ horizon }} and in_window.event_date
        ) = in_window.event_date - (in_window.session_date - {{ horizon }}) + 1
),

-- An unknown session is only known to be unknown once its day's sessions have landed: the claimed day
-- when the id carries one, else every day a presale could reach.
unknown_sessions as (
    select
        session_id,
        cinema_id,
        session_date,
        any_value(claimed_date) as claimed_date,
        min(event_date) as first_event_date,
        max(event_date) as last_event_date,
        arg_min(event_id, occurred_at) as first_event_id,
        min(occurred_at) as first_occurred_at,
        count(*) as n_events,
    from in_window
    where not is_session_known
    group by session_id, cinema_id, session_date
),

events_of_unknown_sessions as (
    select
        'unknown_session' as anomaly_type,
        unknown_sessions.session_id || '@' || unknown_sessions.session_date as subject_id,
        unknown_sessions.session_date as business_date,
        unknown_sessions.cinema_id,
        unknown_sessions.session_id,
        null::varchar as film_id,
        null::varchar as ticket_id,
        unknown_sessions.first_event_id as event_id,
        unknown_sessions.first_occurred_at as occurred_at,
        unknown_sessions.n_events || ' events name a session the cinema never reported' as details,
    from unknown_sessions
    where (
        select count(*) from manifests
        where manifests.dataset = 'sessions'
            and manifests.cinema_id = unknown_sessions.cinema_id
            and manifests.business_date between
                coalesce(unknown_sessions.claimed_date, unknown_sessions.first_event_date - 1)
                and coalesce(unknown_sessions.claimed_date, unknown_sessions.last_event_date + {{ horizon - 1 }})
    ) = coalesce(
        unknown_sessions.claimed_date, unknown_sessions.last_event_date + {{ horizon - 1 }}
    ) - coalesce(unknown_sessions.claimed_date, unknown_sessions.first_event_date - 1) + 1
),

findings as (
    select * from oversold_sessions
    union all by name
    select * from seats_sold_twice
    union all by name
    select * from late_sales
    union all by name
    select * from refunds_without_sale
    union all by name
    select * from events_of_unknown_sessions
),

final as (
    select
        md5(anomaly_type || ':' || subject_id) as anomaly_id,
        anomaly_type,
        business_date,
        cinema_id,
        session_id,
        film_id,
        ticket_id,
        event_id,
        occurred_at,
        details,
    from findings
)

select * from final
