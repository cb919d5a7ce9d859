{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['event_date', 'cinema_id'],
        pre_hook="{{ clear_session_window('event_date') }}",
        on_schema_change='fail',
    )
}}

{#- A refund counts against the session of the ticket it refunds: the sale is the record of that
    ticket, so when a refund names another session the sale wins. Refunds of tickets never sold keep the
    session they name (and are anomalies). -#}

with

events as (
    select * from {{ ref('stg_raw__ticket_events') }}
    where {{ events_for_session_window('event_date') }}
),

first_sales as (
    select
        ticket_id,
        arg_min(event_id, occurred_at) as sale_event_id,
        arg_min(session_id, occurred_at) as sale_session_id,
        min(occurred_at) as sold_at,
    from events
    where is_sale
    group by ticket_id
),

attributed as (
    select
        events.event_id,
        events.event_type,
        events.ticket_id,
        case
            when events.is_refund then coalesce(first_sales.sale_session_id, events.session_id)
            else events.session_id
        end as session_id,
        events.session_id as reported_session_id,
        events.cinema_id,
        events.event_date,
        events.occurred_at,
        events.amount_kzt,
        case when events.is_refund then -events.amount_kzt else events.amount_kzt end as signed_amount_kzt,
        case when events.is_refund then -1 else 1 end as admissions_delta,
        events.category <> 'invitation' as is_paid,
        events.seat_row,
        events.seat_number,
        events.channel,
        events.category,
        events.is_sale,
        events.is_refund,
        case when events.is_refund then first_sales.sale_event_id end as refunded_sale_event_id,
        case when events.is_refund then first_sales.sold_at end as refunded_ticket_sold_at,
    from events
    left join first_sales
        on events.ticket_id = first_sales.ticket_id
),

in_window as (
    select * from attributed
    where {{ in_session_window('event_date') }}
),

lookback as (
    select * from attributed
    where {{ before_session_window('event_date') }}
    {%- if is_incremental() %}
        and not exists (
            select 1 from {{ this }} as present
            where present.cinema_id = attributed.cinema_id
                and present.event_date = attributed.event_date
                and {{ before_session_window('present.event_date') }}
                and {{ events_for_session_window('present.event_date') }}
        )
    {%- endif %}
),

final as (
    select * from in_window
    union all by name
    select * from lookback
)

select * from final
