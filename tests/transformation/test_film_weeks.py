"""Film weeks and weekends: the Python rule and the dbt macros give the same days."""

from datetime import date, datetime, timedelta

import duckdb
import jinja2

from ekino_pipeline.calendar import BUSINESS_TZ, film_week_start, weekend_start
from ekino_pipeline.partitions import film_week_partitions
from ekino_pipeline.transformation.project import DBT_PROJECT_DIR


def _macro_sql(name: str, day_expression: str) -> str:
    text = (DBT_PROJECT_DIR / "macros" / "film_week.sql").read_text()
    return jinja2.Environment().from_string(text + "{{ " + name + "('" + day_expression + "') }}").render()


def test_a_film_week_opens_on_the_thursday_on_or_before_its_day():
    assert film_week_start(date(2024, 3, 7)) == date(2024, 3, 7)  # a Thursday
    assert film_week_start(date(2024, 3, 13)) == date(2024, 3, 7)  # the Wednesday after
    assert film_week_start(date(2024, 3, 6)) == date(2024, 2, 29)
    assert weekend_start(date(2024, 3, 10)) == date(2024, 3, 8)  # Sunday -> Friday
    assert weekend_start(date(2024, 3, 7)) is None  # Thursday is no weekend day


def test_the_dbt_macros_agree_with_the_python_rule_on_every_weekday():
    days = [date(2024, 2, 26) + timedelta(days=n) for n in range(21)]
    sql = (
        f"select d, {_macro_sql('film_week_start', 'd')} as week,"
        f" {_macro_sql('weekend_start', 'd')} as weekend from unnest($days) as t(d) order by d"
    )
    with duckdb.connect() as con:
        rows = con.execute(sql, {"days": days}).fetchall()
    assert [(d, w, e) for d, w, e in rows] == [(d, film_week_start(d), weekend_start(d)) for d in days]


def test_film_week_partitions_are_keyed_by_thursdays_and_exist_once_the_week_has_closed():
    weeks = film_week_partitions(date(2024, 3, 1))  # a Friday: the first whole week opens on 7 March
    keys = weeks.get_partition_keys(current_time=datetime(2024, 3, 21, 8, tzinfo=BUSINESS_TZ))
    assert keys == ["2024-03-07", "2024-03-14"]  # the week of 21 March has not closed
    assert all(film_week_start(date.fromisoformat(k)) == date.fromisoformat(k) for k in keys)
