{#- The raw tables of the live mode, created empty when missing, so that a plain `dbt build` (and the
    daily one) finds the live models' sources before any live tick has run. The live loader
    (ekino_pipeline/ingestion/live_loading.py) creates and fills the same tables. -#}
{% macro ensure_live_tables() -%}
    create schema if not exists raw;
    create table if not exists raw.live_ticket_events (
        event_id varchar, event_type varchar, ticket_id varchar, session_id varchar,
        occurred_at timestamptz, amount_kzt decimal(14, 2), seat_row integer, seat_number integer,
        channel varchar, category varchar, cinema_id varchar, business_date date, attempt_id varchar,
        extracted_at timestamptz
    );
    create table if not exists raw.live_sessions (
        session_id varchar, film_id varchar, hall_id varchar, starts_at timestamptz,
        utc_offset_minutes smallint, format varchar, audio_language varchar, subtitle_language varchar,
        cinema_id varchar, business_date date, attempt_id varchar, extracted_at timestamptz
    );
    create table if not exists raw.live_quarantine (
        dataset varchar, page integer, record_key varchar, raw_record varchar, reason varchar,
        cinema_id varchar, business_date date, attempt_id varchar, extracted_at timestamptz
    );
    create table if not exists raw.live_cinema_status (
        cinema_id varchar, cinema_name varchar, region_code varchar, region_name varchar,
        is_connected boolean, business_date date, status varchar, error varchar, last_event_at timestamptz,
        last_polled_at timestamptz, last_attempt_at timestamptz, ticks integer, served bigint,
        landed bigint, quarantined bigint, duplicates_dropped bigint, batches integer
    );
    create table if not exists raw.live_films (film_id varchar, title varchar, distributor varchar);
    create table if not exists raw.live_state (business_date date, as_of timestamptz);
{%- endmacro %}
