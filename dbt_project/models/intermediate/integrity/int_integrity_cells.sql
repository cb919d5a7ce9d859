{{ config(materialized='table') }}

{#- Every integrity rule's verdict on every cinema x film x film week (x hour band where the rule reads
    bands) of the window, found or not: what the findings and the cinema's weekly summary are cut from,
    and what a benchmark measures recall and false positives on. -#}

with

cells as (
    select * from {{ ref('int_integrity_sold_out') }}
    union all by name
    select * from {{ ref('int_integrity_admissions') }}
    union all by name
    select * from {{ ref('int_integrity_hall_overlaps') }}
    union all by name
    select * from {{ ref('int_integrity_price_outliers') }}
    union all by name
    select * from {{ ref('int_integrity_sales_bursts') }}
    union all by name
    select * from {{ ref('int_integrity_discount_mix') }}
),

final as (
    select
        md5(concat_ws(':', rule, cinema_id, film_id, film_week_start, detail)) as finding_id,
        rule,
        cinema_id,
        region_code,
        film_id,
        film_week_start,
        detail,
        observed,
        expected,
        score,
        threshold,
        is_finding,
        is_judged,
        n_sessions,
        n_tickets,
        session_ids,
        money_kzt,
        evidence,
    from cells
)

select * from final
