{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='business_date',
        pre_hook="{{ clear_session_window() }}",
        on_schema_change='fail',
    )
}}

{#- Refunds with no sale, for the anomalies mart: a refund of a ticket never sold (refund_without_sale)
    or of a ticket whose sale was quarantined (refund_of_quarantined_sale). The sale could have
    happened from presale_horizon_days before the session up to the refund, so a missing sale is only
    reported once every ticket-events pull of those days has landed: the edge of the loaded history
    raises nothing. A sale that came but was quarantined is no missing sale. -#}

{%- set horizon = var('presale_horizon_days') | int %}

with

refunds as (
    select * from {{ ref('int_ticket_events_located') }}
    where is_refund
),

events as (
    select * from {{ ref('int_ticket_events_attributed') }}
    where {{ events_for_session_window('event_date') }}
),

manifests as (
    select * from {{ ref('stg_raw__landing_manifests') }}
    where is_success
),

quarantined as (
    select * from {{ ref('stg_raw__quarantined_records') }}
    where {{ events_for_session_window('business_date') }}
),

quarantined_sales as (
    select distinct cinema_id, claimed_ticket_id as ticket_id
    from quarantined
    where dataset = 'ticket_events' and claimed_ticket_id is not null
        and coalesce(claimed_event_type, 'sale') = 'sale'
),

final as (
    select
        case
            when quarantined_sales.ticket_id is not null then 'refund_of_quarantined_sale'
            else 'refund_without_sale'
        end as anomaly_type,
        refunds.event_id as subject_id,
        refunds.session_date as business_date,
        refunds.cinema_id,
        refunds.session_id,
        refunds.film_id,
        refunds.ticket_id,
        refunds.event_id,
        refunds.occurred_at,
        case
            when quarantined_sales.ticket_id is not null
                then 'refund of ' || refunds.amount_kzt || ' KZT for a ticket whose sale was quarantined'
            else 'refund of ' || refunds.amount_kzt || ' KZT for a ticket never sold'
        end as details,
    from refunds
    left join quarantined_sales
        on refunds.cinema_id = quarantined_sales.cinema_id
        and refunds.ticket_id = quarantined_sales.ticket_id
    where not exists (
            select 1 from events
            where events.is_sale and events.ticket_id = refunds.ticket_id
        )
        and (
            quarantined_sales.ticket_id is not null
            or (
                select count(*) from manifests
                where manifests.dataset = 'ticket_events'
                    and manifests.cinema_id = refunds.cinema_id
                    and manifests.business_date
                        between refunds.session_date - {{ horizon }} and refunds.event_date
            ) = refunds.event_date - (refunds.session_date - {{ horizon }}) + 1
        )
)

select * from final
