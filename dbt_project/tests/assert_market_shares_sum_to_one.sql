{{ config(meta={'dagster': {'ref': {'name': 'distributor_market_share'}}}) }}

-- Each share is rounded on its own to 4 decimals, half away from zero: a period's shares may miss 1 by
-- at most half a unit of the last decimal per distributor, never more.
select
    period,
    period_start_date,
    sum(gross_share) as gross_shares,
    sum(admissions_share) as admissions_shares,
    count(*) as n_distributors,
from {{ ref('distributor_market_share') }}
group by period, period_start_date
having (sum(gross_share) is not null and abs(sum(gross_share) - 1) > 0.00005 * count(*))
    or (sum(admissions_share) is not null and abs(sum(admissions_share) - 1) > 0.00005 * count(*))
