"""The box office reported before e-Kino (box_office_history): the shipped figures hold the published
facts, a malformed file is refused naming file, row and column, and `ekino import-history` imports one."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from ekino_pipeline.exchange.history import HistoryError, load_box_office_history
from ekino_pipeline.exchange.registry import load_registry
from ekino_sim import SAMPLE_REGISTRY_DIR
from ekino_sim.history import HISTORY_THROUGH, NATIONAL_TOTALS

EKINO = str(Path(sys.executable).parent / "ekino")
HISTORY = SAMPLE_REGISTRY_DIR / "box_office_history.csv"


@pytest.fixture(scope="module")
def registry():
    return load_registry(SAMPLE_REGISTRY_DIR)


def _film_years(registry) -> dict[int, dict[str, Decimal]]:
    years: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for record in registry.history:
        if record.film_id:
            years[record.period_start.year][record.film_id] += record.gross_kzt
    return years


def test_the_shipped_history_holds_the_ministrys_published_national_totals(registry):
    national = {r.period_start.year: r for r in registry.history if r.film_id is None}
    assert {year: r.gross_kzt for year, r in national.items()} == NATIONAL_TOTALS
    assert national[2024].gross_kzt == Decimal("22000000000.00")
    assert round(national[2024].gross_kzt / national[2023].gross_kzt - 1, 3) == Decimal("0.302")
    for record in national.values():
        assert record.source == "ministry" and record.source_date > date(record.period_start.year, 12, 31)
        assert 1650 <= record.gross_kzt / record.admissions <= 1950  # about 1,700-1,900 tenge a ticket


def test_each_years_registry_films_earn_no_more_than_the_national_total(registry):
    years = _film_years(registry)
    for year, total in NATIONAL_TOTALS.items():
        films = sum(years[year].values())
        # The rest is films outside the registry; the registry's films are most of the year.
        assert total * Decimal("0.8") < films <= total, year


def test_fourteen_of_2024s_twenty_highest_grossing_films_are_domestic(registry):
    domestic = {f.film_id for f in registry.films if f.is_domestic}
    top20 = sorted(_film_years(registry)[2024].items(), key=lambda kv: -kv[1])[:20]
    assert sum(film_id in domestic for film_id, _ in top20) == 14


def test_the_released_state_funded_films_earned_about_one_and_a_half_billion_tenge_together(registry):
    assert len(registry.grants) == 98
    assert sum(g.amount_kzt for g in registry.grants) == Decimal("19000000000.00")
    funded = {g.film_id for g in registry.grants if g.film_id}
    films = {f.film_id: f for f in registry.films}
    assert len(funded) == 23
    assert all(films[f].distribution_certificate and films[f].release_date <= HISTORY_THROUGH for f in funded)
    earned = sum(r.gross_kzt for r in registry.history if r.film_id in funded)
    assert Decimal("1.4e9") <= earned <= Decimal("1.6e9")


def test_a_film_released_before_tracking_has_reported_weeks_from_its_release_date(registry):
    films = {f.film_id: f for f in registry.films}
    weeks = defaultdict(list)
    for record in registry.history:
        if record.film_id and record.period == "film_week" and record.source == "distributor_report":
            weeks[record.film_id].append(record.period_start)
    assert len(weeks) > 500
    for film_id, starts in weeks.items():
        released = films[film_id].release_date
        assert min(starts) == released, film_id  # releases open on Thursdays: the first film week
        assert starts == [released + timedelta(days=7 * k) for k in range(len(starts))], film_id


def test_every_film_released_by_the_end_of_history_has_a_certificate_issued_before_release(registry):
    for film in registry.films:
        assert film.distribution_certificate and film.certificate_date < film.release_date


def _write(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


GOOD = {
    "film_id": "F00001",
    "period": "film_week",
    "period_start": "2018-01-04",
    "gross_kzt": "1500000.00",
    "admissions": "800",
    "source": "distributor_report",
    "source_date": "2018-01-16",
}


@pytest.mark.parametrize(
    ("change", "column", "message"),
    [
        ({"film_id": "F99999"}, "film_id", "not in the film registry"),
        ({"gross_kzt": "1,500,000"}, "gross_kzt", "got '1,500,000'"),
        ({"gross_kzt": "-5.00"}, "gross_kzt", "non-negative"),
        ({"gross_kzt": "10.005"}, "gross_kzt", "at most 2 decimals"),
        ({"admissions": "eight"}, "admissions", "whole"),
        ({"period_start": "2018-01-05"}, "period_start", "Thursday"),
        ({"period": "month"}, "period", "year, film_week"),
        ({"source": "rumour"}, "source", "distributor_report"),
        ({"film_id": "", "period": "film_week"}, "period", "national total"),
    ],
)
def test_a_malformed_history_row_is_refused_naming_file_row_and_column(
    tmp_path, registry, change, column, message
):
    path = _write(tmp_path / "history.csv", [GOOD, {**GOOD, "period_start": "2018-01-11", **change}])
    with pytest.raises(HistoryError, match=rf"^history\.csv row 3 column {column}: .*{message}"):
        load_box_office_history(path, registry.film_ids)


def test_two_overlapping_periods_of_one_film_are_refused_so_nothing_counts_twice(tmp_path, registry):
    yearly = {**GOOD, "period": "year", "period_start": "2018-01-01", "source": "ministry"}
    path = _write(tmp_path / "history.csv", [GOOD, yearly])
    with pytest.raises(
        HistoryError, match=r"row 2 column period_start: F00001's film_week .* overlaps its year"
    ):
        load_box_office_history(path, registry.film_ids)


def test_a_history_without_a_column_is_refused_naming_it(tmp_path, registry):
    path = _write(tmp_path / "history.csv", [{k: v for k, v in GOOD.items() if k != "source_date"}])
    with pytest.raises(HistoryError, match=r"history\.csv: missing column.*source_date"):
        load_box_office_history(path, registry.film_ids)


NEXT_WEEK = {**GOOD, "period_start": "2018-01-11", "source_date": "2018-01-23"}


def test_a_row_with_more_values_than_the_header_is_refused_naming_row_and_column(tmp_path, registry):
    # A row of 8 values under a 7-column header was imported, and copied into the registry verbatim.
    path = _write(tmp_path / "history.csv", [GOOD])
    path.write_text(path.read_text() + ",".join([*NEXT_WEEK.values(), "surplus"]) + "\n")
    beyond = r"^history\.csv row 3 column 8: a value beyond the header's 7 columns$"
    with pytest.raises(HistoryError, match=beyond):
        load_box_office_history(path, registry.film_ids)


def test_a_short_row_is_refused_naming_its_first_missing_column(tmp_path, registry):
    path = _write(tmp_path / "history.csv", [GOOD])
    path.write_text(path.read_text() + ",".join(list(NEXT_WEEK.values())[:5]) + "\n")
    with pytest.raises(HistoryError, match=r"^history\.csv row 3 column source: no value"):
        load_box_office_history(path, registry.film_ids)


def test_a_film_week_at_the_end_of_the_calendar_is_refused_not_an_overflow(tmp_path, registry):
    # A film week from 9999-12-30 ends past the last date Python holds: an OverflowError traceback.
    late = {**GOOD, "period_start": "9999-12-30", "source_date": "9999-12-31"}
    path = _write(tmp_path / "history.csv", [GOOD, late])
    with pytest.raises(HistoryError, match=r"^history\.csv row 3 column period_start: .*9999-12-30"):
        load_box_office_history(path, registry.film_ids)


def test_a_huge_field_is_refused_naming_file_and_row(tmp_path, registry):
    # A 200 kB field was a _csv.Error traceback ("field larger than field limit").
    path = _write(tmp_path / "history.csv", [GOOD, {**NEXT_WEEK, "source": "x" * 200_000}])
    with pytest.raises(HistoryError, match=r"^history\.csv row 3: .*field larger than field limit"):
        load_box_office_history(path, registry.film_ids)


def test_a_history_saved_by_excel_with_a_byte_order_mark_is_read(tmp_path, registry):
    # Excel's "CSV UTF-8" starts with a byte-order mark, which hid the first column's name.
    path = _write(tmp_path / "history.csv", [GOOD])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    [record] = load_box_office_history(path, registry.film_ids)
    assert record.film_id == "F00001"


def _registry_copy(tmp_path: Path) -> Path:
    directory = tmp_path / "registry"
    shutil.copytree(SAMPLE_REGISTRY_DIR, directory)
    return directory


def test_ekino_import_history_validates_a_file_and_makes_it_the_registrys_history(tmp_path):
    directory = _registry_copy(tmp_path)
    source = _write(
        tmp_path / "reported.csv",
        [
            GOOD,
            {
                **GOOD,
                "film_id": "",
                "period": "year",
                "period_start": "2018-01-01",
                "source": "ministry",
                "source_date": "2019-02-01",
            },
        ],
    )
    done = subprocess.run(
        [EKINO, "import-history", str(source), "--registry-dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "1 films (2 periods)" in done.stdout
    history = load_registry(directory).history
    assert [(r.film_id, r.gross_kzt) for r in history] == [
        ("F00001", Decimal("1500000.00")),
        (None, Decimal("1500000.00")),
    ]


def test_ekino_import_history_refuses_a_bad_file_in_one_line_and_keeps_the_registrys_history(tmp_path):
    directory = _registry_copy(tmp_path)
    before = (directory / "box_office_history.csv").read_bytes()
    source = _write(tmp_path / "reported.csv", [{**GOOD, "gross_kzt": "lots"}])
    done = subprocess.run(
        [EKINO, "import-history", str(source), "--registry-dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "ekino import-history: reported.csv row 2 column gross_kzt: "
        "expected tenge as a non-negative amount with at most 2 decimals, got 'lots'"
    ]
    assert (directory / "box_office_history.csv").read_bytes() == before


@pytest.mark.parametrize(
    "row",
    [
        ",".join([*NEXT_WEEK.values(), "surplus"]),
        ",".join({**GOOD, "period_start": "9999-12-30", "source_date": "9999-12-31"}.values()),
    ],
)
def test_ekino_import_history_refuses_a_long_row_or_a_date_at_the_calendars_end_in_one_line(tmp_path, row):
    # The long row was imported verbatim; the week of 9999-12-30 was an OverflowError traceback.
    directory = _registry_copy(tmp_path)
    before = (directory / "box_office_history.csv").read_bytes()
    source = _write(tmp_path / "reported.csv", [GOOD])
    source.write_text(source.read_text() + row + "\n")
    done = subprocess.run(
        [EKINO, "import-history", str(source), "--registry-dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("ekino import-history: reported.csv row 3 column ")
    assert (directory / "box_office_history.csv").read_bytes() == before


def test_the_pipeline_has_no_registry_of_its_own_to_overwrite(tmp_path):
    # The sample registry is the simulator's: the pipeline's default is a folder of its home.
    from ekino_pipeline.settings import Settings

    settings = Settings.from_env({"EKINO_HOME": str(tmp_path / "home")})
    assert settings.registry_dir == (tmp_path / "home" / "registry").resolve()
    assert SAMPLE_REGISTRY_DIR.resolve() not in settings.registry_dir.parents
