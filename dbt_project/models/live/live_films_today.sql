with

state as (
    select * from {{ source('raw', 'live_state') }}
),

events as (
    select * from {{ ref('live_events_today') }}
),

films as (
    select * from {{ source('raw', 'live_films') }}
),

by_film as (
    select
        film_id,
        sum(case when is_sale then amount_kzt else -amount_kzt end) as gross_kzt,
        count(*) filter (where is_sale) - count(*) filter (where not is_sale) as admissions,
        count(distinct session_id) filter (where is_sale) as sessions_sold,
        count(distinct cinema_id) as cinemas_selling,
        max(occurred_at) as last_event_at,
    from events
    group by film_id
),

final as (
    select
        state.business_date,
        state.as_of,
        cast(
            rank() over (order by by_film.film_id is null, by_film.gross_kzt desc) as integer
        ) as rank_so_far,
        by_film.film_id,
        coalesce(films.title, case when by_film.film_id is null then '(session not listed yet)' end) as title,
        films.distributor,
        cast(by_film.gross_kzt as decimal(18, 2)) as gross_kzt,
        cast(by_film.admissions as bigint) as admissions,
        cast(by_film.sessions_sold as bigint) as sessions_sold,
        cast(by_film.cinemas_selling as integer) as cinemas_selling,
        by_film.last_event_at,
        true as is_provisional,
        ['live']::varchar[] as provisional_reasons,
    from by_film
    cross join state
    left join films on by_film.film_id = films.film_id
)

select * from final
