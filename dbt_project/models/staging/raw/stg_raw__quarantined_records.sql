{#- Quarantined records with what they claim, where it can be read: the record is kept as served (JSON),
    so its fields are read leniently (a value of the wrong type reads as null, never as an error). -#}

with

source as (
    select * from {{ source('raw', 'quarantine') }}
),

parsed as (
    select
        *,
        coalesce(json_valid(raw_record) and json_type(raw_record) = 'OBJECT', false) as is_object,
    from source
),

read as (
    select
        *,
        case
            when is_object and regexp_full_match(
                coalesce(json_extract_string(raw_record, '$.amount_kzt'), ''), '[0-9]{1,10}\.[0-9]{2}'
            )
                then cast(json_extract_string(raw_record, '$.amount_kzt') as decimal(14, 2))
        end as amount_read,
        case when is_object then json_extract_string(raw_record, '$.event_type') end as event_type_read,
    from parsed
),

final as (
    select
        dataset,
        cinema_id,
        business_date,
        page,
        record_key,
        raw_record,
        reason,
        case
            when reason like 'conflicting duplicate%' then 'conflicting_duplicate'
            when reason like 'film_id: unknown film%' then 'unknown_film'
            when regexp_matches(reason, '^[a-z_]+:')
                then 'invalid_' || regexp_extract(reason, '^([a-z_]+):', 1)
            else 'invalid_record'
        end as reason_code,
        event_type_read as claimed_event_type,
        case when is_object then json_extract_string(raw_record, '$.event_id') end as claimed_event_id,
        case when is_object then json_extract_string(raw_record, '$.ticket_id') end as claimed_ticket_id,
        case when is_object then json_extract_string(raw_record, '$.session_id') end as claimed_session_id,
        case when is_object then json_extract_string(raw_record, '$.film_id') end as claimed_film_id,
        case
            when is_object then try_cast(json_extract_string(raw_record, '$.occurred_at') as timestamptz)
        end as claimed_occurred_at,
        case
            when is_object then try_cast(json_extract_string(raw_record, '$.starts_at') as timestamptz)
        end as claimed_starts_at,
        -- Money is read only when it has the contract's shape (a decimal string, two decimals).
        amount_read as claimed_amount_kzt,
        -- What the record would add to gross: a sale's amount, a refund's negated; a conflicting
        -- duplicate claims nothing (the event it duplicates is counted already).
        case
            when dataset <> 'ticket_events' or reason like 'conflicting duplicate%' then null
            when event_type_read = 'sale' then amount_read
            when event_type_read = 'refund' then -amount_read
        end as claimed_gross_kzt,
        attempt_id,
        extracted_at,
    from read
)

select * from final
