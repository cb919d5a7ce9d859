"""settlement_weekly on the built scenario: it adds up to the tenge and to the daily marts."""

import csv
import re
from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pytest

from ekino_pipeline.exchange.registry import load_registry
from ekino_pipeline.transformation import statements as statements_module
from ekino_pipeline.transformation.statements import distributor_id, write_statements
from ekino_sim import SAMPLE_REGISTRY_DIR
from tests.transformation.dbt_helpers import mart

TIYN = Decimal("0.01")


def test_a_film_week_across_cinemas_equals_its_seven_days_of_film_daily_box_office(built_scenario):
    lines = mart(built_scenario.warehouse, "settlement_weekly", "film_id, film_week_start, cinema_id")
    days = mart(built_scenario.warehouse, "film_daily_box_office", "film_id, business_date")
    assert lines, "the scenario settled no week"
    weeks = defaultdict(lambda: [Decimal(0), 0])
    for line in lines:
        weeks[line["film_id"], line["film_week_start"]][0] += line["gross_kzt"]
        weeks[line["film_id"], line["film_week_start"]][1] += line["admissions"]
    for (film_id, start), (gross, admissions) in weeks.items():
        seven = [
            d for d in days if d["film_id"] == film_id and start <= d["business_date"] <= start + timedelta(6)
        ]
        assert (gross, admissions) == (
            sum(d["gross_kzt"] for d in seven),
            sum(d["admissions"] for d in seven),
        )


def _rental_by_hand(term, line) -> tuple[Decimal | None, Decimal]:
    """The rate and the rental of a line, computed again in Python from the registry's term."""
    net = line["net_kzt"]

    def share(amount, rate):
        return (amount * rate / 100).quantize(TIYN, ROUND_HALF_UP)  # half away from zero

    if term.method == "sliding_by_week":
        rate = term.rates[min(line["week_of_release"], len(term.rates)) - 1]
        return rate, share(net, rate)
    if term.method == "fixed_percentage":
        return term.rates[0], share(net, term.rates[0])
    if term.method == "house_allowance":
        return term.rates[0], share(max(net - term.house_allowance_kzt, Decimal(0)), term.rates[0])
    if term.method == "flat_fee_per_session":
        return None, line["n_sessions"] * term.fee_kzt
    if term.method == "flat_fee_per_week":
        return None, term.fee_kzt
    return term.rates[0], max(share(net, term.rates[0]), term.minimum_guarantee_kzt)


def test_every_line_splits_its_gross_into_tax_rental_and_exhibitor_share_to_the_tiyn(built_scenario):
    terms = {t.terms_id: t for t in load_registry(SAMPLE_REGISTRY_DIR).rental_terms}
    lines = mart(built_scenario.warehouse, "settlement_weekly", "cinema_id, film_id, film_week_start")
    for line in lines:
        assert line["gross_kzt"] == line["tax_kzt"] + line["rental_due_kzt"] + line["exhibitor_share_kzt"]
        assert line["net_kzt"] == line["gross_kzt"] - line["tax_kzt"]
        term = terms[line["terms_id"]]
        assert line["method"] == term.method
        assert (line["rate_pct"], line["rental_due_kzt"]) == _rental_by_hand(term, line)


def test_a_week_that_has_not_closed_is_provisional_and_says_why(built_scenario):
    # The scenario stands on 2024-03-03: the week of 2024-02-29 runs to 2024-03-06.
    lines = mart(built_scenario.warehouse, "settlement_weekly", "cinema_id, film_id")
    assert {line["film_week_start"].isoformat() for line in lines} == {"2024-02-29"}
    assert all(line["is_provisional"] and line["provisional_reasons"][0] == "day_open" for line in lines)
    # ALA-0020 did not answer on 2024-03-01 and sold nothing on 2024-03-02.
    [silent] = [line for line in lines if line["cinema_id"] == "ALA-0020"]
    assert {"cinemas_missing", "cinemas_silent"} <= set(silent["provisional_reasons"])


def test_each_distributor_gets_a_statement_per_week_whose_lines_add_up_to_settlement_weekly(
    built_scenario, tmp_path
):
    statements = write_statements(built_scenario.warehouse, tmp_path)
    lines = mart(built_scenario.warehouse, "settlement_weekly", "cinema_id, film_id, film_week_start")
    expected = defaultdict(lambda: defaultdict(Decimal))
    for line in lines:
        for column in ("gross_kzt", "tax_kzt", "net_kzt", "rental_due_kzt", "exhibitor_share_kzt"):
            expected[line["distributor"], line["film_week_start"]][column] += line[column]
    assert {(s.distributor, s.film_week_start) for s in statements} == set(expected)
    for statement in statements:
        assert statement.totals == expected[statement.distributor, statement.film_week_start]
        assert statement.csv_path.parent == tmp_path / "statements" / statement.film_week_start.isoformat()
        with statement.csv_path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == statement.lines
        for column, total in statement.totals.items():
            assert sum(Decimal(r[column]) for r in rows) == total
        assert all(
            Decimal(r["gross_kzt"])
            == Decimal(r["tax_kzt"]) + Decimal(r["rental_due_kzt"]) + Decimal(r["exhibitor_share_kzt"])
            for r in rows
        )
        findings = {
            (line["cinema_id"], line["film_id"]): "|".join(line["integrity_findings"])
            for line in lines
            if line["film_week_start"] == statement.film_week_start
        }
        assert all(r["integrity_findings"] == findings[r["cinema_id"], r["film_id"]] for r in rows)
        readable = statement.readable_path.read_text()
        assert (
            f"Rental due to {statement.distributor}: {statement.totals['rental_due_kzt']:,.2f} KZT"
            in readable
        )
        assert "PROVISIONAL (" in readable and "day_open" in readable
    assert not list(tmp_path.rglob(".*.tmp"))


def test_a_distributor_name_never_becomes_a_path():
    assert re.fullmatch(r"aurora-film-distribution-[0-9a-f]{8}", distributor_id("Aurora Film Distribution"))
    assert re.fullmatch(r"etc-kino-ltd-[0-9a-f]{8}", distributor_id("../../etc/Kino Ltd."))
    assert re.fullmatch(r"distributor-[0-9a-f]{8}", distributor_id("Қазақфильм"))
    assert len(distributor_id("Very Long Name " * 40)) <= 69


def test_what_came_back_on_a_funded_film_is_the_rental_due_on_its_settled_weeks(built_scenario):
    lines = mart(built_scenario.warehouse, "settlement_weekly", "cinema_id, film_id, film_week_start")
    outcomes = mart(built_scenario.warehouse, "funding_outcomes", "project_id")
    rental = defaultdict(Decimal)
    weeks = defaultdict(set)
    for line in lines:
        rental[line["film_id"]] += line["rental_due_kzt"] or 0
        weeks[line["film_id"]].add(line["film_week_start"])
    settled = [o for o in outcomes if o["film_id"] in rental]
    assert settled, "no funded film played in the scenario's settled weeks"
    for outcome in outcomes:
        assert outcome["rental_due_kzt"] == rental.get(outcome["film_id"], Decimal(0))
        assert outcome["n_weeks_settled"] == len(weeks.get(outcome["film_id"], ()))
        expected = (outcome["rental_due_kzt"] / outcome["amount_kzt"]).quantize(Decimal("0.000001"))
        assert abs(outcome["rental_recoupment_rate"] - expected) <= Decimal("0.000001")
    assert any(o["is_rental_provisional"] for o in settled)  # the scenario's last week is still open
    by_year = mart(built_scenario.warehouse, "funding_outcomes_by_year", "grant_year")
    assert sum(y["rental_due_kzt"] for y in by_year) == sum(o["rental_due_kzt"] for o in outcomes)


def _settlement_warehouse(path, lines: list[dict]):
    """A warehouse holding only marts.settlement_weekly, with the columns the statements read."""
    con = duckdb.connect(str(path))
    con.execute(
        "create schema marts; create table marts.settlement_weekly (film_week_start date, "
        "film_week_end date, distributor varchar, cinema_id varchar, cinema_name varchar, film_id varchar, "
        "title varchar, week_of_release integer, n_sessions integer, admissions bigint, "
        "gross_kzt decimal(18,2), tax_kzt decimal(18,2), net_kzt decimal(18,2), method varchar, "
        "terms_id varchar, terms_version integer, rate_pct decimal(5,2), rental_due_kzt decimal(18,2), "
        "exhibitor_share_kzt decimal(18,2), is_provisional boolean, provisional_reasons varchar[], "
        "integrity_findings varchar[])"
    )
    for values in lines:
        line = {
            "film_week_start": date(2024, 2, 29),
            "film_week_end": date(2024, 3, 6),
            "distributor": "Aurora Film Distribution",
            "cinema_id": "ALA-0001",
            "cinema_name": "Kinopark Ordasy",
            "film_id": "F00001",
            "title": "Broken Garden",
            "week_of_release": 1,
            "n_sessions": 4,
            "admissions": 120,
            "gross_kzt": Decimal("240000.00"),
            "tax_kzt": Decimal("27000.00"),
            "net_kzt": Decimal("213000.00"),
            "method": "minimum_guarantee",
            "terms_id": "T0001",
            "terms_version": 1,
            "rate_pct": Decimal("50.00"),
            "rental_due_kzt": Decimal("225500.00"),
            "exhibitor_share_kzt": Decimal("-12500.00"),
            "is_provisional": False,
            "provisional_reasons": [],
            "integrity_findings": [],
            **values,
        }
        con.execute(
            f"insert into marts.settlement_weekly by name select {', '.join(f'${k} as {k}' for k in line)}",
            line,
        )
    con.close()
    return path


FORMULAS = ['=HYPERLINK("http://127.0.0.1:9/","Pay")', "@SUM(A1:A9)", "+1+1", "-1+1", "\t=1", "\r=1"]


def test_a_statement_csv_neutralises_formulas_in_text_and_keeps_money_a_number(tmp_path):
    # Names such as =HYPERLINK(...) or @SUM(...) reached the accountants' spreadsheets as formulas.
    lines = [
        {"cinema_id": f"ALA-000{n}", "cinema_name": text, "title": text, "terms_id": text}
        for n, text in enumerate(FORMULAS, start=1)
    ]
    warehouse = _settlement_warehouse(tmp_path / "w.duckdb", lines)
    [statement] = write_statements(warehouse, tmp_path / "exports")
    raw = statement.csv_path.read_bytes().decode("utf-8")
    with statement.csv_path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["cinema_name"] for r in rows] == [f"'{text}" for text in FORMULAS]
    assert all(r["title"] == r["terms_id"] == r["cinema_name"] for r in rows)
    for text in FORMULAS:
        quoted = '"' + "'" + text.replace('"', '""') + '"'
        assert raw.count(quoted) == 3  # each neutralised cell is quoted as well
    # A negative amount is a number, written as one (unquoted, no apostrophe).
    assert all(r["exhibitor_share_kzt"] == "-12500.00" for r in rows)
    assert ",-12500.00," in raw
    assert statement.totals["exhibitor_share_kzt"] == Decimal("-75000.00")


def test_a_statement_in_markdown_escapes_html_and_pipes_so_no_column_shifts(tmp_path):
    # A title <script> went into the Markdown raw, and a | in a name shifted the table's columns.
    lines = [
        {"title": "<script>alert(1)</script>", "cinema_name": "Kino | Bar", "distributor": "A & B <i>"},
    ]
    warehouse = _settlement_warehouse(tmp_path / "w.duckdb", lines)
    [statement] = write_statements(warehouse, tmp_path / "exports")
    text = statement.readable_path.read_text(encoding="utf-8")
    assert "<script>" not in text and "<i>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "# Statement for A &amp; B &lt;i&gt;" in text
    [row] = [line for line in text.splitlines() if line.startswith("| Kino")]
    header = next(line for line in text.splitlines() if line.startswith("| cinema |"))
    assert "Kino \\| Bar" in row
    unescaped_pipes = len(re.findall(r"(?<!\\)\|", row))
    assert unescaped_pipes == header.count("|")


def test_a_statement_line_names_the_integrity_findings_of_its_cinema_film_and_week(tmp_path):
    # The settlement of the week names what the integrity rules found on a line; a clean line names none.
    lines = [
        {"cinema_id": "ALA-0001", "integrity_findings": ["price_outlier", "sales_burst"]},
        {"cinema_id": "ALA-0002", "cinema_name": "Clean Kino"},
    ]
    warehouse = _settlement_warehouse(tmp_path / "w.duckdb", lines)
    [statement] = write_statements(warehouse, tmp_path / "exports")
    with statement.csv_path.open(newline="", encoding="utf-8") as fh:
        rows = {r["cinema_id"]: r for r in csv.DictReader(fh)}
    assert rows["ALA-0001"]["integrity_findings"] == "price_outlier|sales_burst"
    assert rows["ALA-0002"]["integrity_findings"] == ""
    text = statement.readable_path.read_text(encoding="utf-8")
    header = next(line for line in text.splitlines() if line.startswith("| cinema |"))
    assert header.rstrip(" |").endswith("integrity findings")
    [found] = [line for line in text.splitlines() if "(ALA-0001)" in line]
    [clean] = [line for line in text.splitlines() if "(ALA-0002)" in line]
    assert found.endswith("| price_outlier, sales_burst |")
    assert clean.endswith("|  |")
    assert "price_outlier" not in clean and "sales_burst" not in clean
    assert len(re.findall(r"(?<!\\)\|", found)) == len(re.findall(r"(?<!\\)\|", clean)) == header.count("|")


def test_two_distributors_whose_names_make_the_same_slug_get_two_statements(tmp_path):
    # The second distributor's statement silently replaced the first's (its rental due gone).
    names = ['=HYPERLINK("http://127.0.0.1:9/","Pay")', "Hyperlink http 127.0.0.1 9 PAY"]
    lines = [
        {"distributor": name, "cinema_id": f"ALA-000{n}", "rental_due_kzt": Decimal(f"{n}00.00")}
        for n, name in enumerate(names, start=1)
    ]
    warehouse = _settlement_warehouse(tmp_path / "w.duckdb", lines)
    statements = write_statements(warehouse, tmp_path / "exports")
    assert {s.distributor for s in statements} == set(names)
    assert len({s.csv_path for s in statements}) == len({s.readable_path for s in statements}) == 2
    for statement in statements:
        with statement.csv_path.open(newline="", encoding="utf-8") as fh:
            [row] = list(csv.DictReader(fh))
        assert Decimal(row["rental_due_kzt"]) == statement.totals["rental_due_kzt"]
        assert statement.csv_path.stem == statement.distributor_id == statement.readable_path.stem
    # The id is stable: the same name gives the same file in every build.
    again = write_statements(warehouse, tmp_path / "exports")
    assert sorted(s.csv_path for s in again) == sorted(s.csv_path for s in statements)
    assert len(list((tmp_path / "exports" / "statements" / "2024-02-29").iterdir())) == 4


def test_two_distributors_with_one_id_are_refused_rather_than_one_statement_replacing_the_other(
    tmp_path, monkeypatch
):
    # Pins the same bug at its root: should two names ever share an id (a hash collision), nothing is
    # overwritten silently.
    monkeypatch.setattr(statements_module, "distributor_id", lambda name: "one-id")
    lines = [
        {"distributor": "North", "cinema_id": "ALA-0001"},
        {"distributor": "South", "cinema_id": "ALA-0002"},
    ]
    warehouse = _settlement_warehouse(tmp_path / "w.duckdb", lines)
    with pytest.raises(ValueError, match="distributors 'North' and 'South' have the same id one-id"):
        write_statements(warehouse, tmp_path / "exports")
