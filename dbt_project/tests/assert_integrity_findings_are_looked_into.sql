{{ config(severity='warn') }}

{#- Every integrity finding of the window is a warning on integrity_findings (a Dagster asset check that
    warns, never fails the run): a suspicion for an inspector, with its evidence in the mart. -#}

select
    finding_id,
    rule,
    cinema_id,
    film_id,
    film_week_start,
    evidence,
from {{ ref('integrity_findings') }}
where {{ in_film_week_window('film_week_start') }}
