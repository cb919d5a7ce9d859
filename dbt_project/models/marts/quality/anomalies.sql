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
    audits). business_date is the day of the session concerned, from the session itself; events of a
    session nobody listed are dated by their own timestamps (the day of the last of them), never by
    the shape of an id, which the exchange contract does not define. A finding that depends on the
    absence of a record (a refund with no sale, an event with no session) is only raised once every pull
    that could hold that record has landed successfully, so the edge of the loaded history raises
    nothing; a record that is absent because it was quarantined is reported as such. -#}

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

quarantined as (
    select * from {{ ref('stg_raw__quarantined_records') }}
    where {{ events_for_session_window('business_date') }}
),

quarantined_sessions as (
    select * from {{ ref('int_quarantined_sessions') }}
),

quarantined_sales as (
    select distinct cinema_id, claimed_ticket_id as ticket_id
    from quarantined
    where dataset = 'ticket_events' and claimed_ticket_id is not null
        and coalesce(claimed_event_type, 'sale') = 'sale'
),

-- Each event with the day of its session: the loaded session's, else the quarantined session's, else
-- (a session nobody listed) the day of the last event naming it.
listed as (
    select
        events.*,
        sessions.session_id is not null as is_session_known,
        quarantined_sessions.session_id is not null as is_session_quarantined,
        sessions.starts_at,
        coalesce(sessions.film_id, quarantined_sessions.film_id) as film_id,
        quarantined_sessions.reason as session_quarantine_reason,
        quarantined_sessions.reason_code as session_quarantine_reason_code,
        coalesce(sessions.session_date, quarantined_sessions.session_date) as listed_session_date,
    from events
    left join sessions
        on events.session_id = sessions.session_id
    left join quarantined_sessions
        on events.cinema_id = quarantined_sessions.cinema_id
        and events.session_id = quarantined_sessions.session_id
),

unlisted_session_dates as (
    select session_id, max(event_date) as session_date
    from listed
    where listed_session_date is null
    group by session_id
),

located as (
    select
        listed.* exclude (listed_session_date),
        coalesce(listed.listed_session_date, unlisted_session_dates.session_date) as session_date,
    from listed
    left join unlisted_session_dates
        on listed.listed_session_date is null
        and listed.session_id = unlisted_session_dates.session_id
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

-- Ticket sales could have happened from presale_horizon_days before the session up to the refund; a
-- sale that came but was quarantined is no missing sale.
refunds_without_sale as (
    select
        case
            when quarantined_sales.ticket_id is not null then 'refund_of_quarantined_sale'
            else 'refund_without_sale'
        end as anomaly_type,
        in_window.event_id as subject_id,
        in_window.session_date as business_date,
        in_window.cinema_id,
        in_window.session_id,
        in_window.film_id,
        in_window.ticket_id,
        in_window.event_id,
        in_window.occurred_at,
        case
            when quarantined_sales.ticket_id is not null
                then 'refund of ' || in_window.amount_kzt || ' KZT for a ticket whose sale was quarantined'
            else 'refund of ' || in_window.amount_kzt || ' KZT for a ticket never sold'
        end as details,
    from in_window
    left join quarantined_sales
        on in_window.cinema_id = quarantined_sales.cinema_id
        and in_window.ticket_id = quarantined_sales.ticket_id
    where in_window.is_refund
        and not exists (
            select 1 from events
            where events.is_sale and events.ticket_id = in_window.ticket_id
        )
        and (
            quarantined_sales.ticket_id is not null
            or (
                select count(*) from manifests
                where manifests.dataset = 'ticket_events'
                    and manifests.cinema_id = in_window.cinema_id
                    and manifests.business_date
                        between in_window.session_date - {{ horizon }} and in_window.event_date
            ) = in_window.event_date - (in_window.session_date - {{ horizon }}) + 1
        )
),

-- Events of a session that was quarantined (most often: its film is not in the registry yet).
quarantined_session_events as (
    select
        session_id,
        cinema_id,
        session_date,
        any_value(film_id) as film_id,
        any_value(session_quarantine_reason) as reason,
        any_value(session_quarantine_reason_code) as reason_code,
        arg_min(event_id, occurred_at) as first_event_id,
        min(occurred_at) as first_occurred_at,
        count(*) as n_events,
        sum(case when is_refund then -amount_kzt else amount_kzt end) as gross_kzt,
    from in_window
    where not is_session_known and is_session_quarantined
    group by session_id, cinema_id, session_date
),

events_of_quarantined_sessions as (
    select
        case
            when reason_code = 'unknown_film' then 'unregistered_film_session'
            else 'quarantined_session'
        end as anomaly_type,
        session_id || '@' || session_date as subject_id,
        session_date as business_date,
        cinema_id,
        session_id,
        film_id,
        null::varchar as ticket_id,
        first_event_id as event_id,
        first_occurred_at as occurred_at,
        case
            when reason_code = 'unknown_film'
                then n_events || ' events (' || gross_kzt || ' KZT) of a session of film ' || film_id
                    || ', not in the national film registry: held back until the film is registered'
                    || ' and the quarantine replayed'
            else n_events || ' events (' || gross_kzt || ' KZT) of a session held in quarantine: ' || reason
        end as details,
    from quarantined_session_events
),

-- A session nobody listed is known to be unknown once the cinema's sessions have landed for every day
-- its events allow: an event of day E belongs to a session of day E - 1 .. E + presale_horizon_days.
unknown_sessions as (
    select
        session_id,
        cinema_id,
        session_date,
        min(event_date) as first_event_date,
        max(event_date) as last_event_date,
        arg_min(event_id, occurred_at) as first_event_id,
        min(occurred_at) as first_occurred_at,
        count(*) as n_events,
    from in_window
    where not is_session_known and not is_session_quarantined
    group by session_id, cinema_id, session_date
),

unknown_session_days as (
    select
        *,
        last_event_date - 1 as first_possible_date,
        greatest(first_event_date + {{ horizon }}, last_event_date - 1) as last_possible_date,
    from unknown_sessions
),

events_of_unknown_sessions as (
    select
        'unknown_session' as anomaly_type,
        session_id || '@' || session_date as subject_id,
        session_date as business_date,
        cinema_id,
        session_id,
        null::varchar as film_id,
        null::varchar as ticket_id,
        first_event_id as event_id,
        first_occurred_at as occurred_at,
        n_events || ' events name a session the cinema never listed on any day from '
            || first_possible_date || ' to ' || last_possible_date as details,
    from unknown_session_days
    where (
        select count(*) from manifests
        where manifests.dataset = 'sessions'
            and manifests.cinema_id = unknown_session_days.cinema_id
            and manifests.business_date between first_possible_date and last_possible_date
    ) = last_possible_date - first_possible_date + 1
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
    select * from events_of_quarantined_sessions
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
