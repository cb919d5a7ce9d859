with

source as (
    select * from {{ source('raw', 'films') }}
),

final as (
    select
        film_id,
        title,
        original_title,
        genres,
        production_countries,
        -- The first production country is the film's country of origin (co-productions list the lead first).
        production_countries[1] as origin_country,
        original_language,
        cast(release_date as date) as release_date,
        distributor,
        is_domestic,
        nullif(funding_project_id, '') as funding_project_id,
        cast(runtime_minutes as integer) as runtime_minutes,
        nullif(distribution_certificate, '') as distribution_certificate,
        cast(certificate_date as date) as certificate_date,
    from source
)

select * from final
