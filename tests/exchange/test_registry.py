"""The registry CSVs are checked before anything is sent: unique ids, every column, usable addresses."""

from __future__ import annotations

import json
import shutil
import socket
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from ekino_pipeline.exchange.registry import (
    RegistryError,
    is_loopback_host,
    load_registry,
    read_registry_csv,
)
from ekino_pipeline.ingestion import assets as ingestion_assets
from ekino_sim import SAMPLE_REGISTRY_DIR
from tests.ingestion.helpers import materialize


@pytest.fixture
def registry(tmp_path) -> Path:
    directory = tmp_path / "registry"
    shutil.copytree(SAMPLE_REGISTRY_DIR, directory)
    return directory


def _edit(path: Path, edit) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(edit(lines)) + "\n", encoding="utf-8")


def test_the_shipped_registry_passes_every_check():
    registry = load_registry(SAMPLE_REGISTRY_DIR)
    assert len({c.cinema_id for c in registry.cinemas}) == len(registry.cinemas) == 103


def test_a_cinema_listed_twice_is_an_error_naming_the_file_both_rows_and_the_id(registry):
    # A duplicate loaded silently, the last row won, and its base URL received the cinema's token.
    cinemas = registry / "cinemas.csv"
    _edit(cinemas, lambda lines: [*lines, lines[1].replace(",cinemas/ALA-0001", ",http://127.0.0.1:9/x")])
    n_rows = len(cinemas.read_text().splitlines())
    with pytest.raises(RegistryError) as caught:
        load_registry(registry)
    assert str(caught.value) == f"{cinemas}: rows 2 and {n_rows} both have cinema_id ALA-0001"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("regions", "region_code"),
        ("halls", "hall_id"),
        ("films", "film_id"),
        ("funding_grants", "project_id"),
    ],
)
def test_every_registry_file_refuses_a_duplicate_key(registry, name, key):
    path = registry / f"{name}.csv"
    _edit(path, lambda lines: [*lines[:3], lines[1], *lines[3:]])
    with pytest.raises(RegistryError, match=rf"^{path}: rows 2 and 4 both have {key} "):
        load_registry(registry)


def test_a_missing_column_is_named_with_its_file(registry):
    # It was "registry ... is malformed: 'base_url'", naming neither the file nor what base_url was.
    cinemas = registry / "cinemas.csv"
    _edit(cinemas, lambda lines: [",".join(line.split(",")[:-1]) for line in lines])
    with pytest.raises(RegistryError) as caught:
        load_registry(registry)
    assert str(caught.value) == f"{cinemas}: missing column(s) base_url"


def test_a_short_row_and_a_long_row_are_named_by_file_and_row(registry):
    halls = registry / "halls.csv"
    _edit(halls, lambda lines: [*lines[:2], lines[2].rsplit(",", 1)[0], *lines[3:]])
    with pytest.raises(RegistryError, match=rf"^{halls}, row 3, column format: no value$"):
        load_registry(registry)
    shutil.copy(SAMPLE_REGISTRY_DIR / "halls.csv", halls)
    _edit(halls, lambda lines: [*lines[:3], lines[3] + ",extra", *lines[4:]])
    with pytest.raises(RegistryError, match=rf"^{halls}, row 4: more values than the header has columns$"):
        load_registry(registry)


@pytest.mark.parametrize(
    ("name", "column", "bad"),
    [
        ("regions", "population", "many"),
        ("halls", "seats", "1.5"),
        ("cinemas", "connected", "yes"),
        ("cinemas", "cinema_id", "ala-1"),
        ("cinemas", "region_code", "KZ-00"),
        ("cinemas", "base_url", "ftp://files.example/ALA-0001"),
        ("cinemas", "base_url", "https://user:password@cinema.example"),
        ("films", "release_date", "2024-02-30"),
        ("films", "runtime_minutes", "0"),
        ("films", "runtime_minutes", "two hours"),
        ("funding_grants", "amount_kzt", "lots"),
    ],
)
def test_a_bad_value_is_named_by_file_row_and_column(registry, name, column, bad):
    path = registry / f"{name}.csv"

    def replace(lines: list[str]) -> list[str]:
        header = lines[0].split(",")
        cells = next(csv_row for csv_row in [lines[2].split(",")] if len(csv_row) == len(header))
        cells[header.index(column)] = bad
        return [lines[0], lines[1], ",".join(cells), *lines[3:]]

    _edit(path, replace)
    with pytest.raises(RegistryError, match=rf"^{path}, row 3, column {column}: "):
        load_registry(registry)


def test_a_registry_made_before_film_runtimes_loads_with_runtimes_not_known(registry):
    # The integrity check of overlapping screenings needs runtimes; an older registry still loads, and
    # the check says it cannot judge those films rather than failing.
    films = registry / "films.csv"
    header = films.read_text(encoding="utf-8").splitlines()[0].split(",")
    column = header.index("runtime_minutes")

    def drop(lines: list[str]) -> list[str]:
        rows = [line.split(",") for line in lines]
        assert all(len(row) == len(header) for row in rows)  # the shipped films quote no commas
        return [",".join(row[:column] + row[column + 1 :]) for row in rows]

    _edit(films, drop)
    loaded = load_registry(registry)
    assert loaded.films and all(f.runtime_minutes is None for f in loaded.films)
    # An empty cell reads the same way; a given one is kept.
    shutil.copy(SAMPLE_REGISTRY_DIR / "films.csv", films)
    _edit(
        films,
        lambda lines: [
            lines[0],
            ",".join([*lines[1].split(",")[:column], "", *lines[1].split(",")[column + 1 :]]),
            *lines[2:],
        ],
    )
    first, second = load_registry(registry).films[:2]
    assert first.runtime_minutes is None and 1 <= second.runtime_minutes <= 600


def test_a_missing_registry_file_is_named(registry):
    (registry / "films.csv").unlink()
    with pytest.raises(RegistryError, match=rf"^{registry / 'films.csv'} does not exist$"):
        load_registry(registry)


@pytest.mark.parametrize("name", ["cinemas", "films", "rental_terms", "tax_rules", "box_office_history"])
def test_a_registry_file_saved_by_excel_with_a_byte_order_mark_is_read(registry, name):
    # Excel's "CSV UTF-8" starts with a byte-order mark: "missing column(s) cinema_id" although it is there.
    path = registry / f"{name}.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_registry(registry) == load_registry(SAMPLE_REGISTRY_DIR)


@pytest.mark.parametrize(
    ("name", "bad"), [("films", "F00001 "), ("films", "f00001"), ("funding_grants", "F1")]
)
def test_a_film_id_off_its_pattern_is_refused_in_the_file_that_holds_it(registry, name, bad):
    # "F00001 " was blamed on rental_terms.csv, and "f00001" was accepted.
    path = registry / f"{name}.csv"

    def replace(lines: list[str]) -> list[str]:
        column = lines[0].split(",").index("film_id")
        row = next(n for n, line in enumerate(lines) if n and line.split(",")[column])
        cells = lines[row].split(",")
        cells[column] = bad
        return [*lines[:row], ",".join(cells), *lines[row + 1 :]]

    _edit(path, replace)
    with pytest.raises(RegistryError, match=rf"^{path}, row \d+, column film_id: .*{bad!r}"):
        load_registry(registry)


@pytest.mark.parametrize("name", ["halls", "rental_terms"])
def test_a_huge_field_is_one_error_naming_file_and_row(registry, name):
    # A 200 kB field was a _csv.Error traceback ("field larger than field limit").
    path = registry / f"{name}.csv"
    _edit(path, lambda lines: [*lines[:2], lines[2] + "x" * 200_000, *lines[3:]])
    with pytest.raises(RegistryError, match=rf"^{path}, row 3: field larger than field limit"):
        load_registry(registry)


def test_the_csv_reader_is_reusable_for_new_registry_datasets_with_a_composite_key(tmp_path):
    path = tmp_path / "rental_terms.csv"
    path.write_text("film_id,distributor,share\nF00001,A,0.5\nF00001,B,0.4\nF00001,A,0.6\n")
    with pytest.raises(RegistryError, match=r"rows 2 and 4 both have film_id F00001, distributor A$"):
        read_registry_csv(path, ("film_id", "distributor", "share"), key=("film_id", "distributor"))
    rows = read_registry_csv(path, ("film_id", "share"))
    assert [r.parse("share", Decimal) for r in rows] == [Decimal("0.5"), Decimal("0.4"), Decimal("0.6")]
    with pytest.raises(RegistryError, match=rf"^{path}, row 3, column share: "):
        rows[1].parse("share", int)
    assert rows[1].number == 3
    assert (
        str(rows[2].error("share", "above the ceiling")) == f"{path}, row 4, column share: above the ceiling"
    )


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.9.9.9", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("128.0.0.1", False),
        ("localhost.example.com", False),
        ("10.0.0.1", False),
        ("cinema.example", False),
    ],
)
def test_loopback_hosts_are_127_slash_8_ipv6_one_and_localhost(host, loopback):
    assert is_loopback_host(host) is loopback


class _Listener:
    """A TCP listener that only counts the connections it is offered."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def test_a_duplicate_registry_id_never_reaches_the_network(registry, tmp_path, monkeypatch):
    listener = _Listener()
    try:
        cinemas = registry / "cinemas.csv"
        twin = f"http://127.0.0.1:{listener.port}/cinemas/ALA-0001"
        _edit(cinemas, lambda lines: [*lines, lines[1].replace(",cinemas/ALA-0001", f",{twin}")])
        secrets = tmp_path / "secrets.json"
        secrets.write_text(json.dumps({"ALA-0001": "token-of-ala-0001"}))
        env = {
            "EKINO_HOME": str(tmp_path / "home"),
            "EKINO_REGISTRY_DIR": str(registry),
            "EKINO_EXCHANGE_BASE_URL": f"http://127.0.0.1:{listener.port}",
            "EKINO_SECRETS_FILE": str(secrets),
            "EKINO_START_DATE": "2024-01-01",
        }
        result = materialize(
            monkeypatch, env, "2024-03-05", assets=[ingestion_assets.sessions], cinemas=["ALA-0001"]
        )
        assert not result.success
        failures = [
            e.step_failure_data.error.message
            for e in result.all_events
            if e.event_type_value == "STEP_FAILURE"
        ]
        assert any("both have cinema_id ALA-0001" in message for message in failures), failures
        assert listener.connections == 0
    finally:
        listener.close()
