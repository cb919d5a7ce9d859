"""What the demo prints: tables read from the analysts' Parquet exports and from a copy of the warehouse
(never the pipeline's own warehouse, whose lock a run may hold)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb


def say(text: str = "") -> None:
    print(text, flush=True)


def _table(cur, sql: str, params=()) -> tuple[list[str], list[tuple]]:
    rows = cur.execute(sql, list(params)).fetchall()
    return [d[0] for d in cur.description], rows


def print_table(columns: list[str], rows: list[tuple]) -> None:
    cells = [[str(c) for c in columns]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    for n, row in enumerate(cells):
        say(
            "  "
            + "  ".join(
                v.rjust(w) if n and v[:1].isdigit() else v.ljust(w) for v, w in zip(row, widths, strict=True)
            )
        )
        if n == 0:
            say("  " + "  ".join("-" * w for w in widths))


def _reasons(reasons: list[str] | None) -> str:
    return ", ".join(reasons) if reasons else "final"


def print_nation(cur, mart, first: date, last: date) -> None:
    """The nation by session day: a day is open until its closing period has passed, then final, and
    either way says what its figures leave out (the cinemas missing or silent, the quarantined money)."""
    say(
        "\nThe nation by session day (coverage = cinemas reporting/connected/all; a day turns final "
        "once its closing period has passed, stating what its figures exclude)"
    )
    print_table(
        *_table(
            cur,
            f"""select business_date as day, gross_kzt, admissions,
                       cinemas_reporting || '/' || cinemas_connected || '/' || cinemas_total as coverage,
                       case when list_contains(provisional_reasons, 'day_open') then 'open'
                            when is_provisional then array_to_string(provisional_reasons, ', ')
                            else 'final' end as status,
                       excluded_quarantined_gross_kzt as quarantined_kzt,
                       array_to_string(list_transform(exclusions, lambda reason: case reason
                           when 'cinemas_missing' then reason || ' (' || n_cinemas_missing || ')'
                           when 'cinemas_silent' then reason || ' (' || n_cinemas_silent || ')'
                           else reason end), ', ') as excludes
                from {mart("national_daily")}
                where business_date between ? and ? order by business_date""",
            [first, last],
        )
    )


def print_headline(exports: Path, first: date, last: date) -> None:
    """The headline, read from the Parquet exports (the analysts' path: no warehouse lock)."""
    con = duckdb.connect()
    try:
        cur = con.cursor()
        mart = lambda name: f"read_parquet('{exports / (name + '.parquet')}')"  # noqa: E731
        print_nation(cur, mart, first, last)
        [(reasons,)] = cur.execute(
            f"select provisional_reasons from {mart('national_daily')} where business_date = ?", [last]
        ).fetchall() or [(None,)]
        say(f"\nTop 10 films on {last} ({_reasons(reasons)})")
        print_table(
            *_table(
                cur,
                f"""select rank_of_day as rank, title, gross_kzt, admissions, n_screenings as screenings,
                           days_in_release as day_of_release, cumulative_gross_kzt as since_release_kzt,
                           gross_source as source,
                           cinemas_reporting || '/' || cinemas_connected || '/' || cinemas_total as coverage
                    from {mart("film_daily_box_office")}
                    where business_date = ? order by rank_of_day limit 10""",
                [last],
            )
        )
        print_forecasts(cur, exports, last)
        say(f"\nRegions on {last} (no figure where no cinema is connected)")
        print_table(
            *_table(
                cur,
                f"""select region_name as region, gross_kzt, admissions, avg_ticket_price_kzt as avg_price,
                           domestic_gross_share as domestic_share,
                           kazakh_language_admissions_share as kazakh_share,
                           cinemas_reporting || '/' || cinemas_connected || '/' || cinemas_total as coverage
                    from {mart("region_daily")} where business_date = ?
                    order by gross_kzt desc nulls last""",
                [last],
            )
        )
        say("\nAdvance sales: the upcoming sessions' top 5 films, sold so far")
        print_table(
            *_table(
                cur,
                f"""select session_date, title, gross_kzt, admissions_so_far as tickets,
                           n_sessions_listed as sessions, sales_through_date as sold_through
                    from {mart("advance_sales")} order by gross_kzt desc limit 5""",
            )
        )
        say("\nQuarantine: records kept out of the box office, and the money they claim")
        print_table(
            *_table(
                cur,
                f"""select reason_code as reason, dataset, count(*) as records,
                           count(distinct cinema_id) as cinemas, sum(gross_kzt_claimed) as claimed_kzt
                    from {mart("quarantine")} group by all order by records desc""",
            )
        )
        print_history(cur, mart)
    finally:
        con.close()


def print_integrity(exports: Path) -> None:
    """The integrity findings of the window, with their evidence, read from the mart's export."""
    con = duckdb.connect()
    try:
        cur = con.cursor()
        source = f"read_parquet('{exports / 'integrity_findings.parquet'}')"
        [(found,)] = cur.execute(f"select count(*) from {source}").fetchall()
        say(f"\nIntegrity findings: {found} (suspicions with their evidence, largest money first)")
        print_table(
            *_table(
                cur,
                f"""select cinema_id as cinema, coalesce(title, film_id) as film, film_week_start as week,
                           rule || coalesce(' (' || detail || ')', '') as rule, money_kzt, evidence
                    from {source} order by money_kzt desc, finding_id limit 10""",
            )
        )
    finally:
        con.close()


def print_forecasts(cur, exports: Path, last: date) -> None:
    """The forecast final gross of the day's top films, with its 80% interval (film_forecasts)."""
    path = exports / "film_forecasts.parquet"
    if not path.exists():
        say(f"\nForecasts: none published ({path.name} missing)")
        return
    say(
        f"\nForecast final gross of the top films on {last} (median and 80% interval, as of that day; "
        "none before a film's first Saturday)"
    )
    print_table(
        *_table(
            cur,
            f"""select day.rank_of_day as rank, day.title, f.days_since_release as day_of_release,
                       f.gross_to_date_kzt as to_date_kzt, f.predicted_gross_low_kzt as low_kzt,
                       f.predicted_gross_kzt as forecast_kzt, f.predicted_gross_high_kzt as high_kzt,
                       f.predicted_weeks_in_release as weeks, f.predicted_recoupment_rate as recoupment
                from read_parquet('{exports / "film_daily_box_office.parquet"}') as day
                left join read_parquet('{path}') as f
                    on f.film_id = day.film_id and f.as_of_date = day.business_date
                where day.business_date = ? order by day.rank_of_day limit 10""",
            [last],
        )
    )


def print_discrepancies(exports: Path, week: date) -> None:
    """Declared returns that differ from the tickets, read from the mart's export."""
    con = duckdb.connect()
    try:
        cur = con.cursor()
        source = f"read_parquet('{exports / 'declared_returns_discrepancies.parquet'}')"
        [(pulled, lines, flagged)] = cur.execute(
            f"""select count(distinct cinema_id), count(*), count(*) filter (where is_discrepancy)
                from {source} where film_week_start = ?""",
            [week],
        ).fetchall()
        say(
            f"\nDeclared returns for the film week {week}..{week + timedelta(days=6)}: {pulled} cinemas, "
            f"{lines} film lines, {flagged} over the tolerance (largest first)"
        )
        print_table(
            *_table(
                cur,
                f"""select cinema_id as cinema, coalesce(title, film_id) as film,
                           declared_gross_kzt as declared_kzt, tracked_gross_kzt as tracked_kzt,
                           difference_kzt, difference_pct as pct, discrepancy,
                           array_to_string(provisional_reasons, ', ') as provisional
                    from {source} where film_week_start = ? and is_discrepancy
                    order by abs(difference_kzt) desc limit 10""",
                [week],
            )
        )
    finally:
        con.close()


def print_history(cur, mart) -> None:
    """What the state's money achieved and the nation's years, from release records and the box office
    reported before e-Kino plus what it tracked (each figure names its source)."""
    say(
        "\nState film funding outcomes by grant year (reached theatres: release records; "
        "lifetime box office since release = reported history + tracked)"
    )
    print_table(
        *_table(
            cur,
            f"""select grant_year, n_projects as projects, funded_amount_kzt,
                       n_reached_theatres as reached_theatres, lifetime_gross_kzt,
                       reported_gross_kzt as reported_kzt, tracked_gross_kzt as tracked_kzt,
                       gross_source as source, recoupment_rate
                from {mart("funding_outcomes_by_year")} order by grant_year""",
        )
    )
    [(projects, funded, reached, earned, reported, tracked)] = cur.execute(
        f"""select count(*), sum(amount_kzt), count(*) filter (where reached_theatres),
                   sum(lifetime_gross_kzt), sum(reported_gross_kzt), sum(tracked_gross_kzt)
            from {mart("funding_outcomes")}"""
    ).fetchall()
    say(
        f"  In all: {projects} projects, {funded / 10**9:.1f} bn tenge granted, {reached} reached theatres, "
        f"earning {earned / 10**9:.2f} bn tenge ({reported / 10**9:.2f} bn reported before e-Kino, "
        f"{tracked / 10**6:.1f} M tracked)"
    )
    say("\nReported periods tracking superseded (history_overlaps: tracked wins, the difference is kept)")
    print_table(
        *_table(
            cur,
            f"""select finding, count(*) as periods, count(distinct film_id) as films,
                       sum(reported_gross_kzt) as reported_kzt, sum(tracked_gross_kzt) as tracked_kzt,
                       sum(gross_difference_kzt) as difference_kzt
                from {mart("history_overlaps")} group by finding order by finding""",
        )
    )
    say(
        "\nNational years (the ministry's published totals until e-Kino tracks a whole year; "
        "top 20 and domestic share over the registry's films)"
    )
    print_table(
        *_table(
            cur,
            f"""select year, gross_kzt, admissions, avg_ticket_price_kzt as avg_ticket,
                       gross_change_rate as change, domestic_gross_share as domestic_share,
                       n_top20_domestic || '/20' as top20_domestic, source,
                       n_days_tracked as days_tracked,
                       coalesce(nullif(array_to_string(provisional_reasons, ', '), ''), 'final')
                           as provisional
                from {mart("national_yearly")} order by year""",
        )
    )


def print_revisions(warehouse_copy: Path, replayed_at: datetime) -> None:
    """What the replay revised: every change of a published figure is kept, with its instant."""
    con = duckdb.connect(str(warehouse_copy), read_only=True)
    try:
        cur = con.cursor()
        say("\nRevisions the replay made (revisions.region_daily_revisions, valid from/to in UTC)")
        print_table(
            *_table(
                cur,
                """with revised as (
                       select region_code, business_date from revisions.region_daily_revisions
                       group by all having count(*) > 1
                   )
                   select r.region_code as region, r.business_date as day, r.gross_kzt,
                          r.quarantined_gross_kzt_claimed as quarantined_kzt,
                          array_to_string(r.provisional_reasons, ', ') as provisional,
                          strftime(timezone('UTC', r.dbt_valid_from), '%H:%M:%S') as valid_from,
                          coalesce(strftime(timezone('UTC', r.dbt_valid_to), '%H:%M:%S'), 'now') as valid_to
                   from revisions.region_daily_revisions r join revised using (region_code, business_date)
                   where r.business_date = (select max(business_date) from revised)
                   order by r.region_code, r.dbt_valid_from""",
            )
        )
        [(n_film_days,)] = cur.execute(
            "select count(*) from revisions.film_daily_box_office_revisions where dbt_valid_from >= ?",
            [replayed_at],
        ).fetchall()
        say(f"  ... and {n_film_days} film-day revisions since {replayed_at:%H:%M:%S} UTC")
    finally:
        con.close()


def print_settlement(exports: Path, week: date) -> None:
    """The film week's settlement by distributor, from the settlement_weekly export."""
    con = duckdb.connect()
    try:
        cur = con.cursor()
        source = f"read_parquet('{exports / 'settlement_weekly.parquet'}')"
        say(f"\nSettlement of the film week {week}..{week + timedelta(days=6)} by distributor (KZT)")
        print_table(
            *_table(
                cur,
                f"""select distributor, count(*) as lines, count(distinct cinema_id) as cinemas,
                           sum(gross_kzt) as gross_kzt, sum(tax_kzt) as tax_kzt,
                           sum(rental_due_kzt) as rental_due_kzt, sum(exhibitor_share_kzt) as exhibitor_kzt,
                           string_agg(distinct method, ', ' order by method) as methods,
                           count(*) filter (where is_provisional) as provisional_lines
                    from {source} where film_week_start = ? group by distributor order by distributor""",
                [week],
            )
        )
        [(gross, parts, n_without_terms, gross_without_terms, reasons)] = cur.execute(
            f"""select sum(gross_kzt) filter (where rental_due_kzt is not null),
                       sum(tax_kzt + rental_due_kzt + exhibitor_share_kzt),
                       count(*) filter (where rental_due_kzt is null),
                       coalesce(sum(gross_kzt) filter (where rental_due_kzt is null), 0),
                       list_sort(list_distinct(flatten(list(provisional_reasons))))
                from {source} where film_week_start = ?""",
            [week],
        ).fetchall()
        say(f"  lines with rental terms: gross {gross} = tax + rental due + exhibitor share {parts}")
        if n_without_terms:
            say(
                f"  {n_without_terms} lines without rental terms yet (gross {gross_without_terms}): "
                "no rental due until the registry has their terms"
            )
        say(f"  provisional: {', '.join(reasons)}" if reasons else "  final")
        say(f"  statements: {exports / 'statements' / week.isoformat()}")
    finally:
        con.close()
