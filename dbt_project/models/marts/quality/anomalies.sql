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
    audits), one family per intermediate model (models/intermediate/anomalies). business_date is the day
    of the session concerned. A finding that depends on the absence of a record (a refund with no sale,
    an event with no session) is only raised once every pull that could hold that record has landed
    successfully, so the edge of the loaded history raises nothing; a record that is absent because it
    was quarantined is reported as such. -#}

with

findings as (
    select * from {{ ref('int_anomalies_seats') }}
    union all by name
    select * from {{ ref('int_anomalies_late_sales') }}
    union all by name
    select * from {{ ref('int_anomalies_refunds_without_sale') }}
    union all by name
    select * from {{ ref('int_anomalies_quarantined_sessions') }}
    union all by name
    select * from {{ ref('int_anomalies_unknown_sessions') }}
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
    where {{ in_session_window('business_date') }}
)

select * from final
