{#- Ghost screenings: sessions that started in a hall before the screening before them there could have
    ended (its film's registered runtime), as China's regulators found sessions minutes apart. Per
    cinema x film x film week: the overlapping sessions (int_integrity_sessions) and their minutes. A
    hall cannot show two films at once, so one overlap is a finding. Sessions whose previous screening's
    film has no runtime in the registry cannot be judged: their cell says so (is_judged false) rather
    than finding nothing. Its money: the gross of the overlapping sessions it names. -#}

with

sessions as (
    select * from {{ ref('int_integrity_sessions') }}
    where {{ in_film_week_window('film_week_start') }}
),

cells as (
    select
        cinema_id,
        region_code,
        film_id,
        film_week_start,
        count(*) as n_week_sessions,
        count(*) filter (where is_overlapping) as n_overlapping,
        count(*) filter (where is_overlap_not_judged) as n_not_judged,
        sum(overlap_minutes) filter (where is_overlapping) as overlap_minutes,
        sum(n_tickets_sold) filter (where is_overlapping) as n_tickets,
        sum(gross_kzt) filter (where is_overlapping) as money_kzt,
        list(session_id order by starts_at, session_id) filter (where is_overlapping) as session_ids,
        list(previous_session_id order by starts_at, session_id) filter (where is_overlapping)
            as previous_session_ids,
    from sessions
    group by all
),

final as (
    select
        'hall_overlap' as rule,
        cinema_id,
        region_code,
        film_id,
        film_week_start,
        cast(null as varchar) as detail,
        n_overlapping * 1.0 as observed,
        0.0 as expected,
        n_overlapping * 1.0 as score,
        1.0 as threshold,
        n_overlapping > 0 as is_finding,
        n_not_judged = 0 as is_judged,
        cast(n_overlapping as integer) as n_sessions,
        cast(coalesce(n_tickets, 0) as bigint) as n_tickets,
        coalesce(session_ids, []::varchar[]) as session_ids,
        cast(coalesce(money_kzt, 0) as decimal(18, 2)) as money_kzt,
        case
            when n_overlapping > 0
                then printf(
                    '%d of %d sessions started in a hall %d minutes in all before the screening before '
                    || 'them ended (%s)',
                    n_overlapping, n_week_sessions, overlap_minutes,
                    array_to_string(list_transform(
                        list_zip(session_ids, previous_session_ids),
                        lambda pair: pair[1] || ' after ' || pair[2]
                    ), ', ')
                )
            when n_not_judged > 0
                then printf(
                    '%d of %d sessions follow a film without a runtime in the registry: not judged',
                    n_not_judged, n_week_sessions
                )
            else printf('%d sessions, none overlapping', n_week_sessions)
        end as evidence,
    from cells
)

select * from final
