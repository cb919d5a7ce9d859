{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='weekend_start',
        pre_hook="{{ clear_chart_window('weekend_end') }}",
        post_hook="{{ refresh_provisional_flags('weekend_end') }}",
        on_schema_change='fail',
    )
}}

{{ film_chart('weekend', 3) }}
