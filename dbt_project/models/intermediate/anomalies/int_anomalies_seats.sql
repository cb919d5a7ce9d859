{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='business_date',
        pre_hook="{{ clear_session_window() }}",
        on_schema_change='fail',
    )
}}

{#- Findings about seats, for the anomalies mart: a session that sold more tickets than its hall has
    seats (oversold_session) and a seat sold while an earlier ticket still held it (seat_sold_twice).
    Both read the same history of each seat, so they are found together. -#}

with

located as (
    select * from {{ ref('int_ticket_events_located') }}
),

refunds as (
    select * from {{ ref('int_ticket_events_attributed') }}
    where {{ events_for_session_window('event_date') }} and is_refund
),

session_box_office as (
    select * from {{ ref('int_sessions_aggregated') }}
    where {{ in_session_window('business_date') }}
),

sales as (
    select * from located
    where is_sale and is_session_known
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

final as (
    select * from oversold_sessions
    union all by name
    select * from seats_sold_twice
)

select * from final
