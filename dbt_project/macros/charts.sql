{#- The trade charts aggregate the daily marts over periods: film weeks (Thursday to Wednesday),
    weekends (Friday to Sunday) and calendar years. A windowed build rewrites every period that ends on
    or after the window's first session day, and all that follow (their rank and change on the period
    before depend on it), and reads whole periods, so a week straddling the window is still summed from
    all its days. -#}

{#- The first day of the period `day` falls in: a film week or a weekend (null on Monday to Thursday). -#}
{% macro chart_period_start(period, day) -%}
    {%- if period == 'film_week' -%}
        {{ film_week_start(day) }}
    {%- elif period == 'weekend' -%}
        {{ weekend_start(day) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("unknown chart period " ~ period) }}
    {%- endif -%}
{%- endmacro %}

{#- True for the periods a build rewrites: those whose last day is on or after the window's first
    session day. -#}
{% macro chart_periods_rebuilt(period_end) -%}
    {%- set window = session_window() -%}
    {%- if window.first is none -%}
        true
    {%- else -%}
        ({{ period_end }}) >= date '{{ window.first }}'
    {%- endif -%}
{%- endmacro %}

{#- True for the whole periods a build reads: the rewritten ones and the one before each (a period
    rewritten starts at most 6 days before the window's first session day, the one before it 7 earlier). -#}
{% macro chart_periods_read(period_start) -%}
    {%- set window = session_window() -%}
    {%- if window.first is none -%}
        true
    {%- else -%}
        ({{ period_start }}) >= date '{{ window.first }}' - 13
    {%- endif -%}
{%- endmacro %}

{#- True for the days of the calendar years a build rewrites (from 1 January of the window's first
    session day): year-to-date figures of a day depend on every earlier day of its year. -#}
{% macro chart_years_read(day) -%}
    {%- set window = session_window() -%}
    {%- if window.first is none -%}
        true
    {%- else -%}
        ({{ day }}) >= date '{{ window.first.replace(month=1, day=1) }}'
    {%- endif -%}
{%- endmacro %}

{#- What a period's figures leave out, from the exclusions of its days (`days_exclusions`, the
    national_daily exclusions of the days on record, flattened), in the daily order, then
    days_not_loaded while fewer days are on record than the period has. Whether the period is still
    provisional is decided on its last day (closing_reasons), so refresh_provisional_flags on that day
    closes it. -#}
{% macro period_exclusions(days_exclusions, days_covered, days_in_period) -%}
    list_filter(
        [
            {%- for reason in [
                'coverage_unknown', 'cinemas_missing', 'cinemas_silent', 'presales_not_loaded',
                'late_sales_not_loaded', 'records_quarantined',
            ] %}
            case when list_contains({{ days_exclusions }}, '{{ reason }}') then '{{ reason }}' end,
            {%- endfor %}
            case when coalesce({{ days_covered }}, 0) < {{ days_in_period }} then 'days_not_loaded' end,
        ]::varchar[],
        lambda reason: reason is not null
    )
{%- endmacro %}

{#- The film chart of a period ('film_week' or 'weekend', `n_days` long): one row per film per period
    with at least one screening on record, ranked by gross then admissions. A period is compared day
    for day with the one a week before: its days up to the weekday of its last day on record against
    the same days then, so a week three days in is a week to date against three days, never against a
    whole week; no change when the period before lacks one of those days. -#}
{% macro film_chart(period, n_days) -%}
{%- set start = chart_period_start(period, 'business_date') -%}

with

film_days as (
    select
        *,
        {{ start }} as period_start,
    from {{ ref('film_daily_box_office') }}
    where {{ start }} is not null and {{ chart_periods_read(start) }}
),

screenings as (
    select
        film_id,
        cinema_id,
        {{ start }} as period_start,
    from {{ ref('int_sessions_aggregated') }}
    where {{ start }} is not null and {{ chart_periods_read(start) }}
),

national_days as (
    select
        *,
        {{ start }} as period_start,
    from {{ ref('national_daily') }}
    where {{ start }} is not null and {{ chart_periods_read(start) }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

-- Over the whole history: whether a period is the film's first in the chart does not depend on the window.
film_firsts as (
    select
        film_id,
        min(business_date) as first_screening_date,
        min({{ start }}) as first_period_start,
    from {{ ref('film_daily_box_office') }}
    group by film_id
),

film_periods as (
    select
        film_id,
        period_start,
        sum(gross_kzt) as gross_kzt,
        sum(admissions) as admissions,
        sum(paid_admissions) as paid_admissions,
        sum(n_screenings) as n_screenings,
        count(*) as days_screened,
    from film_days
    group by film_id, period_start
),

film_cinemas as (
    select
        film_id,
        period_start,
        count(distinct cinema_id) as n_cinemas,
    from screenings
    group by film_id, period_start
),

period_coverage as (
    select
        period_start,
        count(*) as days_covered,
        min(cinemas_reporting) as cinemas_reporting_min,
        max(cinemas_connected) as cinemas_connected_max,
        max(cinemas_total) as cinemas_total_max,
        max(business_date) as last_day_on_record,
        flatten(list(exclusions)) as day_exclusions,
        sum(n_cinemas_missing) as n_cinema_days_missing,
        sum(n_cinemas_silent) as n_cinema_days_silent,
        sum(excluded_quarantined_gross_kzt) as excluded_quarantined_gross_kzt,
    from national_days
    group by period_start
),

-- The days each period compares: from its first day through the weekday of its last day on record,
-- and whether the period before has every one of them on record.
compared_days as (
    select
        period_coverage.period_start,
        period_coverage.last_day_on_record - period_coverage.period_start + 1 as days_compared,
        count(previous_days.business_date)
            = period_coverage.last_day_on_record - period_coverage.period_start + 1 as is_comparable,
    from period_coverage
    left join national_days as previous_days
        on previous_days.period_start = period_coverage.period_start - 7
        and previous_days.business_date <= period_coverage.last_day_on_record - 7
    group by period_coverage.period_start, period_coverage.last_day_on_record
),

-- Each film over the compared days of the period before, ranked among the films of those days.
previous_to_date as (
    select
        compared_days.period_start,
        film_days.film_id,
        sum(film_days.gross_kzt) as gross_kzt,
        sum(film_days.admissions) as admissions,
        rank() over (
            partition by compared_days.period_start
            order by sum(film_days.gross_kzt) desc, sum(film_days.admissions) desc
        ) as chart_rank,
    from compared_days
    inner join film_days
        on film_days.period_start = compared_days.period_start - 7
        and film_days.business_date - film_days.period_start < compared_days.days_compared
    where compared_days.is_comparable
    group by compared_days.period_start, film_days.film_id
),

ranked as (
    select
        *,
        rank() over (partition by period_start order by gross_kzt desc, admissions desc) as chart_rank,
    from film_periods
),

final as (
    select
        ranked.film_id,
        ranked.period_start as {{ period }}_start,
        cast(ranked.period_start + {{ n_days - 1 }} as date) as {{ period }}_end,
        films.title,
        films.distributor,
        cast(ranked.gross_kzt as decimal(18, 2)) as gross_kzt,
        cast(ranked.admissions as bigint) as admissions,
        cast(ranked.paid_admissions as bigint) as paid_admissions,
        cast(ranked.n_screenings as bigint) as n_screenings,
        cast(coalesce(film_cinemas.n_cinemas, 0) as bigint) as n_cinemas,
        cast({{ exact_ratio('ranked.gross_kzt', 'film_cinemas.n_cinemas', 2) }} as decimal(18, 2))
            as gross_per_cinema_kzt,
        cast(ranked.days_screened as integer) as days_screened,
        cast(ranked.chart_rank as integer) as chart_rank,
        cast(previous.chart_rank as integer) as previous_chart_rank,
        cast(previous.chart_rank - ranked.chart_rank as integer) as rank_change,
        ranked.period_start = film_firsts.first_period_start as is_new_entry,
        -- The release week is week 1; previews before it count 0 or less.
        cast(
            (
                {{ film_week_start('ranked.period_start') }}
                - {{ film_week_start('coalesce(films.release_date, film_firsts.first_screening_date)') }}
            ) // 7 + 1
            as integer
        ) as weeks_in_release,
        cast(previous.gross_kzt as decimal(18, 2)) as previous_gross_kzt,
        cast(ranked.gross_kzt - previous.gross_kzt as decimal(18, 2)) as gross_change_kzt,
        cast({{ exact_ratio('ranked.gross_kzt - previous.gross_kzt', 'previous.gross_kzt', 4) }} as decimal(12, 4))
            as gross_change_rate,
        cast(previous.admissions as bigint) as previous_admissions,
        cast(ranked.admissions - previous.admissions as bigint) as admissions_change,
        cast(compared_days.days_compared as integer) as days_compared,
        cast(coalesce(period_coverage.days_covered, 0) as integer) as days_covered,
        cast({{ n_days }} as integer) as days_in_period,
        cast(period_coverage.cinemas_reporting_min as integer) as cinemas_reporting_min,
        cast(period_coverage.cinemas_connected_max as integer) as cinemas_connected_max,
        cast(period_coverage.cinemas_total_max as integer) as cinemas_total_max,
        {%- set exclusions = period_exclusions(
            'period_coverage.day_exclusions', 'period_coverage.days_covered', n_days
        ) %}
        {%- set reasons = closing_reasons('ranked.period_start + ' ~ (n_days - 1), exclusions) %}
        len({{ reasons }}) > 0 as is_provisional,
        {{ reasons }} as provisional_reasons,
        {{ exclusions }} as exclusions,
        cast(period_coverage.n_cinema_days_missing as integer) as n_cinema_days_missing,
        cast(period_coverage.n_cinema_days_silent as integer) as n_cinema_days_silent,
        cast(period_coverage.excluded_quarantined_gross_kzt as decimal(18, 2))
            as excluded_quarantined_gross_kzt,
    from ranked
    left join previous_to_date as previous
        on ranked.film_id = previous.film_id
        and ranked.period_start = previous.period_start
    left join compared_days
        on ranked.period_start = compared_days.period_start
    left join film_cinemas
        on ranked.film_id = film_cinemas.film_id
        and ranked.period_start = film_cinemas.period_start
    left join films
        on ranked.film_id = films.film_id
    left join film_firsts
        on ranked.film_id = film_firsts.film_id
    left join period_coverage
        on ranked.period_start = period_coverage.period_start
    where {{ chart_periods_rebuilt('ranked.period_start + ' ~ (n_days - 1)) }}
)

select * from final
{%- endmacro %}

{#- Pre-hook of the incremental charts: the periods the build rewrites are cleared first, so a film
    whose days all vanished from a period (a corrected re-pull) leaves no row behind. -#}
{% macro clear_chart_window(period_end) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ chart_periods_rebuilt(period_end) }}
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of distributor_market_share: the film weeks a build rewrites and its calendar years. -#}
{% macro clear_market_share_window() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where (period = 'film_week' and {{ chart_periods_rebuilt('period_end_date') }})
            or (period = 'year' and {{ chart_years_read('period_start_date') }})
    {%- endif -%}
{%- endmacro %}
