{#- Every record kept out of the box office, with its reason and the money it claims: quarantined
    records (they broke the contract or name a film not yet registered) and landed events held back
    because their session was quarantined. Records replayed since (ekino replay-quarantine) have left. -#}

with

located as (
    select * from {{ ref('int_quarantined_records_located') }}
),

cinemas as (
    select * from {{ ref('stg_raw__cinemas') }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

-- Two identical copies of one broken record served in one pull are two records: numbered apart.
numbered as (
    select
        *,
        row_number() over (
            partition by
                record_kind, dataset, cinema_id, pulled_date, event_id, session_id, raw_record, reason
            order by attempt_id
        ) as copy_number,
    from located
),

final as (
    select
        md5(
            located.record_kind || ':' || located.dataset || ':' || located.cinema_id || ':'
            || located.pulled_date || ':' || coalesce(located.event_id, located.session_id, '')
            || ':' || coalesce(located.raw_record, '') || ':' || located.reason || ':' || located.copy_number
        ) as quarantine_record_id,
        located.record_kind,
        located.dataset,
        located.cinema_id,
        cinemas.region_code,
        located.pulled_date,
        located.session_date,
        located.session_id,
        located.film_id,
        films.film_id is not null as is_film_registered,
        located.ticket_id,
        located.event_id,
        located.event_type,
        located.occurred_at,
        located.amount_kzt,
        located.gross_kzt_claimed,
        located.reason,
        located.reason_code,
        located.raw_record,
        located.attempt_id,
    from numbered as located
    left join cinemas
        on located.cinema_id = cinemas.cinema_id
    left join films
        on located.film_id = films.film_id
)

select * from final
