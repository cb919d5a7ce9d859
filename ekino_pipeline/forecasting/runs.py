"""A film's run as the pipeline knows it on a day: the registry's attributes, the distributors' weekly
reports (known from the day each was reported), the tracked days with their sessions and screens (known
from their own day) and the advance sales (tickets sold for later sessions, known from the day of sale).

Read from what the pipeline publishes, the read-only copy of the warehouse in the exports, never from
the warehouse it writes nor from any source of the figures. Amounts become floats here: a forecast is
an estimate, and the published one is rounded back to exact tenge.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ekino_pipeline.calendar import film_week_start

WEEK = 7
# A run is over once nothing was reported or tracked for this long after its last week...
ENDED_AFTER_DAYS = 21
# ...and that week had faded under this share of its best: a run cut short by the end of what was
# reported (a year's reports closed, tracking not begun) is not mistaken for a run that ended.
FADED_SHARE = 0.12

FILMS_SQL = """
select films.film_id, films.title, films.release_date, films.certificate_date, films.genres,
       coalesce(films.is_domestic, false) as is_domestic, films.original_language, films.distributor,
       films.funding_project_id, grants.amount_kzt as funded_amount_kzt
from staging.stg_raw__films as films
left join staging.stg_raw__funding_grants as grants on grants.film_id = films.film_id
where films.release_date is not null
"""
# Weekly reports only: a year's figure cannot say how a run went week by week.
WEEKS_SQL = """
select film_id, period_start as week_start, gross_kzt as gross, admissions, source_date as known_on
from intermediate.int_reported_periods_reconciled
where period = 'film_week' and reported_by = 'distributor_report' and gross_kzt > 0
"""
DAYS_SQL = """
select film_id, business_date, gross_kzt as gross, admissions, cumulative_gross_kzt as cumulative_gross,
       n_screenings as sessions, n_screens as screens
from marts.film_daily_box_office
"""
# Tickets sold on a day for a later session of the film, net of refunds made by then (a refund counts on
# its own day): what `advance_sales` shows on its sales-through day, kept for every day of sale.
ADVANCE_DAYS = 7
ADVANCE_SQL = f"""
select sessions.film_id, events.event_date as sold_on, sessions.session_date,
       sum(events.signed_amount_kzt) as gross, sum(events.admissions_delta) as tickets
from intermediate.int_ticket_events_attributed as events
inner join staging.stg_raw__sessions as sessions on events.session_id = sessions.session_id
where sessions.session_date > events.event_date
    and sessions.session_date <= events.event_date + {ADVANCE_DAYS}
group by all
"""
ADVANCE_COLUMNS = ["film_id", "sold_on", "session_date", "gross", "tickets"]


@dataclass(frozen=True)
class Runs:
    """films: film_id, title, release_date, certificate_date, genres (list), is_domestic,
    original_language, distributor, funding_project_id, funded_amount_kzt;
    weeks: film_id, week_start, gross, admissions, known_on (reported film weeks);
    days: film_id, business_date, gross, admissions, sessions, screens (tracked days; sessions and
    screens null when not known), and cumulative_gross (the lifetime the marts publish on that day) when
    read from them;
    advance: film_id, sold_on, session_date, gross, tickets (advance sales: sold on a day for the film's
    sessions of a later day, up to ADVANCE_DAYS ahead)."""

    films: pd.DataFrame
    weeks: pd.DataFrame
    days: pd.DataFrame
    advance: pd.DataFrame = field(default_factory=lambda: _empty_advance())

    @property
    def tracking_start(self) -> date | None:
        return min(self.days["business_date"]) if len(self.days) else None

    @property
    def last_day(self) -> date | None:
        """The last day anything is known of."""
        known = [*self.days["business_date"], *self.weeks["known_on"]]
        return max(known) if known else None

    def known_on(self, day: date) -> Runs:
        """What was known at the end of `day`: tracked days up to it, reports made by then, the advance
        sales made by then, and the films whose distribution certificate was issued by then (their
        release is on the calendar)."""
        weeks = self.weeks[
            (self.weeks["known_on"] <= day) & (self.weeks["week_start"] + timedelta(days=WEEK - 1) <= day)
        ]
        days = self.days[self.days["business_date"] <= day]
        issued = self.films["certificate_date"].isna() | (self.films["certificate_date"] <= day)
        films = self.films[issued | (self.films["release_date"] <= day)]
        advance = self.advance[self.advance["sold_on"] <= day]
        return replace(self, films=films, weeks=weeks, days=days, advance=advance)


def _empty_advance() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype=float if c in ("gross", "tickets") else object) for c in ADVANCE_COLUMNS}
    )


def read_runs(warehouse_copy: str | Path) -> Runs:
    """The runs from the exported read-only copy of the warehouse (opened under its own name, so that
    its views resolve)."""
    con = duckdb.connect(str(warehouse_copy), read_only=True)
    try:
        frames = []
        for sql in (FILMS_SQL, WEEKS_SQL, DAYS_SQL, ADVANCE_SQL):
            cursor = con.cursor()
            frames.append(cursor.execute(sql).df())
    finally:
        con.close()
    return make_runs(*frames)


def make_runs(
    films: pd.DataFrame, weeks: pd.DataFrame, days: pd.DataFrame, advance: pd.DataFrame | None = None
) -> Runs:
    """Runs from plain frames (dates as dates, amounts as numbers, genres as lists); the days' sessions
    and screens and the advance sales may be left out (not known)."""
    films = films.copy()
    for column in ("release_date", "certificate_date"):
        films[column] = pd.to_datetime(films[column]).dt.date
    films["genres"] = films["genres"].map(lambda g: list(g) if g is not None else [])
    films["funded_amount_kzt"] = pd.to_numeric(films["funded_amount_kzt"], errors="coerce").astype(float)
    films["is_domestic"] = films["is_domestic"].fillna(False).astype(bool)
    weeks = weeks.copy()
    for column in ("week_start", "known_on"):
        weeks[column] = pd.to_datetime(weeks[column]).dt.date
    days = days.copy()
    days["business_date"] = pd.to_datetime(days["business_date"]).dt.date
    if "cumulative_gross" in days.columns:
        days["cumulative_gross"] = days["cumulative_gross"].astype(float)
    for column in ("sessions", "screens"):
        days[column] = days[column].astype(float) if column in days.columns else np.nan
    for frame in (weeks, days):
        frame["gross"] = frame["gross"].astype(float)
        frame["admissions"] = frame["admissions"].astype(float)
    advance = _empty_advance() if advance is None else advance[ADVANCE_COLUMNS].copy()
    for column in ("sold_on", "session_date"):
        advance[column] = pd.to_datetime(advance[column]).dt.date
    for column in ("gross", "tickets"):
        advance[column] = advance[column].astype(float)
    return Runs(
        films.reset_index(drop=True),
        weeks.reset_index(drop=True),
        days.reset_index(drop=True),
        advance.reset_index(drop=True),
    )


def film_weeks(runs: Runs) -> pd.DataFrame:
    """Each film's film weeks as known (call on `runs.known_on(day)`): film_id, week (1 = the film week
    of its release), gross, admissions, days (7 for a whole week), complete.

    A reported week counts unless tracking holds the whole week; a tracked week is complete once its
    seven days are on record (a day the film did not play counts as nothing sold), and only from the
    first day tracking began.
    """
    release = runs.films.set_index("film_id")["release_date"]
    start = {f: film_week_start(d) for f, d in release.items()}
    last_day, tracking = runs.last_day, runs.tracking_start
    tracked = runs.days[runs.days["film_id"].isin(start.keys())].copy()
    tracked["week"] = [
        (d - start[f]).days // WEEK + 1
        for f, d in zip(tracked["film_id"], tracked["business_date"], strict=True)
    ]
    tracked = tracked[tracked["week"] >= 1]
    columns = ["film_id", "week", "gross", "admissions", "days", "complete"]
    by_week = (
        tracked.groupby(["film_id", "week"], as_index=False).agg(
            gross=("gross", "sum"), admissions=("admissions", "sum"), days=("business_date", "nunique")
        )
        if len(tracked)
        else pd.DataFrame(columns=columns[:5])
    )
    week_start = [
        start[f] + timedelta(days=WEEK * (w - 1))
        for f, w in zip(by_week["film_id"], by_week["week"], strict=True)
    ]
    by_week["complete"] = [
        tracking is not None and s >= tracking and s + timedelta(days=WEEK - 1) <= last_day
        for s in week_start
    ]
    # Days of a week in progress on record from its start (0: tracking began within it).
    by_week["days"] = [
        WEEK if c else (min(WEEK, (last_day - s).days + 1) if s >= tracking else 0)
        for c, s in zip(by_week["complete"], week_start, strict=True)
    ]
    reported = runs.weeks[runs.weeks["film_id"].isin(start.keys())].copy()
    reported["week"] = [
        (s - start[f]).days // WEEK + 1
        for f, s in zip(reported["film_id"], reported["week_start"], strict=True)
    ]
    reported = reported[reported["week"] >= 1]
    reported = reported.assign(days=WEEK, complete=True)[columns]
    whole = set(
        zip(
            by_week.loc[by_week["complete"], "film_id"], by_week.loc[by_week["complete"], "week"], strict=True
        )
    )
    keep = [(f, w) not in whole for f, w in zip(reported["film_id"], reported["week"], strict=True)]
    reported_keys = set(zip(reported["film_id"], reported["week"], strict=True))
    tracked_kept = [
        complete or (f, w) not in reported_keys
        for f, w, complete in zip(by_week["film_id"], by_week["week"], by_week["complete"], strict=True)
    ]
    parts = [
        part
        for part in (
            reported.loc[np.array(keep, dtype=bool)],
            by_week.loc[np.array(tracked_kept, dtype=bool), columns],
        )
        if len(part)
    ]
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["film_id", "week"]).reset_index(drop=True)


def ended_runs(weeks: pd.DataFrame, runs: Runs) -> pd.DataFrame:
    """The films whose runs are over as far as `runs` knows (its last day): film_id, weeks (in release),
    final_gross, final_admissions. Every week up to the last must be whole."""
    last_day = runs.last_day
    if last_day is None or weeks.empty:
        return pd.DataFrame(columns=["film_id", "weeks", "final_gross", "final_admissions"])
    release = runs.films.set_index("film_id")["release_date"]
    rows = []
    for film_id, run in weeks.groupby("film_id"):
        run = run[run["gross"] > 0]
        if run.empty or not run["complete"].all():
            continue
        last = int(run["week"].max())
        if len(run) != last:  # a week missing from the record
            continue
        ends = film_week_start(release[film_id]) + timedelta(days=WEEK * last - 1)
        if ends + timedelta(days=ENDED_AFTER_DAYS) > last_day:
            continue
        if last > 1 and run["gross"].iloc[-1] > FADED_SHARE * run["gross"].max():
            continue
        rows.append((film_id, last, run["gross"].sum(), run["admissions"].sum()))
    return pd.DataFrame(rows, columns=["film_id", "weeks", "final_gross", "final_admissions"])
