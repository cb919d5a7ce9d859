{#- Prices far from the cinema's own: each sale against the cinema's sales of the same format and category
    over the integrity history (median and MAD of the log price). A sale integrity_robust_z robust
    deviations above is an outlier; per cinema x film x film week, a finding needs three (one odd price
    is a typing error, not a pattern). A cinema x format x category with fewer than 30 sales has no norm
    to judge by. Its money: the gross of the sessions holding the outliers. -#}

with

sessions as (
    select * from {{ ref('int_integrity_sessions') }}
),

sales as (
    select
        events.session_id,
        events.category,
        events.amount_kzt,
        sessions.cinema_id,
        sessions.region_code,
        sessions.format,
        sessions.film_id,
        sessions.film_week_start,
    from {{ ref('int_ticket_events_attributed') }} as events
    inner join sessions
        on events.session_id = sessions.session_id
    where events.is_sale and events.amount_kzt > 0
),

norms as (
    select
        cinema_id,
        format,
        category,
        count(*) as n_sales,
        median(ln(amount_kzt)) as median_log_price,
        mad(ln(amount_kzt)) as mad_log_price,
    from sales
    group by all
    having count(*) >= 30
),

judged as (
    select
        sales.*,
        norms.median_log_price,
        {{ robust_z('ln(sales.amount_kzt)', 'norms.median_log_price', 'norms.mad_log_price', 'ln(1.05)') }}
            as z,
    from sales
    inner join norms
        on sales.cinema_id = norms.cinema_id
        and sales.format = norms.format
        and sales.category = norms.category
    where {{ in_film_week_window('sales.film_week_start') }}
),

cells as (
    select
        cinema_id,
        region_code,
        film_id,
        film_week_start,
        count(*) as n_sales,
        count(*) filter (where z >= {{ var('integrity_robust_z') }}) as n_outliers,
        median(amount_kzt / exp(median_log_price)) filter (where z >= {{ var('integrity_robust_z') }})
            as price_ratio,
        median(z) filter (where z >= {{ var('integrity_robust_z') }}) as median_z,
    from judged
    group by all
),

outlying_sessions as (
    select distinct session_id
    from judged
    where z >= {{ var('integrity_robust_z') }}
),

named as (
    select
        cells.*,
        sessions.session_id,
        sessions.starts_at,
        sessions.n_tickets_sold,
        sessions.gross_kzt,
    from cells
    left join sessions
        on cells.cinema_id = sessions.cinema_id
        and cells.film_id = sessions.film_id
        and cells.film_week_start = sessions.film_week_start
        and sessions.session_id in (select outlying_sessions.session_id from outlying_sessions)
),

summed as (
    select
        cinema_id,
        film_id,
        film_week_start,
        any_value(region_code) as region_code,
        any_value(n_sales) as n_sales,
        any_value(n_outliers) as n_outliers,
        any_value(price_ratio) as price_ratio,
        any_value(median_z) as median_z,
        list(session_id order by starts_at, session_id) filter (where session_id is not null) as session_ids,
        sum(n_tickets_sold) as n_tickets,
        sum(gross_kzt) as money_kzt,
    from named
    group by cinema_id, film_id, film_week_start
),

final as (
    select
        'price_outlier' as rule,
        cinema_id,
        region_code,
        film_id,
        film_week_start,
        cast(null as varchar) as detail,
        n_outliers * 1.0 / n_sales as observed,
        0.0 as expected,
        coalesce(median_z, 0) as score,
        {{ var('integrity_robust_z') }} * 1.0 as threshold,
        n_outliers >= 3 as is_finding,
        true as is_judged,
        cast(coalesce(len(session_ids), 0) as integer) as n_sessions,
        cast(coalesce(n_tickets, 0) as bigint) as n_tickets,
        coalesce(session_ids, []::varchar[]) as session_ids,
        cast(coalesce(money_kzt, 0) as decimal(18, 2)) as money_kzt,
        printf(
            '%d of %d tickets priced far above the cinema''s own for their format and category '
            || '(median %.1f times its usual price)',
            n_outliers, n_sales, coalesce(price_ratio, 0)
        ) as evidence,
    from summed
)

select * from final
