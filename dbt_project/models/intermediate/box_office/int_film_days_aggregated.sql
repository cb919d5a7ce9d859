{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='business_date',
        pre_hook="{{ clear_session_window() }}",
        on_schema_change='fail',
    )
}}

with

sessions as (
    select * from {{ ref('int_sessions_aggregated') }}
    where {{ in_session_window('business_date') }}
),

final as (
    select
        film_id,
        business_date,
        cast(sum(gross_kzt) as decimal(18, 2)) as gross_kzt,
        cast(sum(sales_kzt) as decimal(18, 2)) as sales_kzt,
        cast(sum(refunds_kzt) as decimal(18, 2)) as refunds_kzt,
        cast(sum(admissions) as bigint) as admissions,
        cast(sum(paid_admissions) as bigint) as paid_admissions,
        count(*) as n_screenings,
        count(distinct cinema_id) as n_cinemas,
        count(distinct hall_id) as n_screens,
        -- Seats offered only when every hall is known, so occupancy is never overstated.
        case when count(hall_seats) = count(*) then cast(sum(hall_seats) as bigint) end as seats_offered,
    from sessions
    group by film_id, business_date
)

select * from final
