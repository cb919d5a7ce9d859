{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='film_week_start',
        pre_hook="{{ clear_chart_window('film_week_end') }}",
        post_hook="{{ refresh_provisional_flags('film_week_end') }}",
        on_schema_change='fail',
    )
}}

{{ film_chart('film_week', 7) }}
