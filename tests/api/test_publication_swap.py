"""A publication swaps atomically: readers of several marts never mix two builds, and the API never
serves an answer made of two publications, however the swaps and the requests interleave."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ekino_pipeline import publications
from tests.api.conftest import serve

DAY = date(2024, 3, 1)


def write_build(exports, version: int) -> list:
    """A build whose every figure says its version: the films' gross and the nation's cinemas."""
    exports.mkdir(parents=True, exist_ok=True)
    money = pa.decimal128(18, 2)
    films = pa.table(
        {
            "film_id": ["F1", "F2"],
            "business_date": [DAY, DAY],
            "gross_kzt": pa.array([Decimal(version * 1000), Decimal(version * 100)], money),
            "rank_of_day": pa.array([1, 2], pa.int32()),
        }
    )
    nation = pa.table(
        {
            "business_date": [DAY],
            "gross_kzt": pa.array([Decimal(version * 1100)], money),
            "cinemas_reporting": pa.array([version], pa.int32()),
            "cinemas_connected": pa.array([1000], pa.int32()),
            "cinemas_total": pa.array([1000], pa.int32()),
            "is_provisional": [False],
            "provisional_reasons": pa.array([[]], pa.list_(pa.string())),
            "exclusions": pa.array([[]], pa.list_(pa.string())),
        }
    )
    films_meta = pa.table(
        {"film_id": ["F1", "F2"], "is_domestic": [True, False], "original_language": ["kk", "ru"]}
    )
    paths = []
    for name, table in (
        ("film_daily_box_office", films),
        ("national_daily", nation),
        ("film_performance", films_meta),
    ):
        # As the export does: each file replaced atomically, one after the other.
        tmp = exports / f".{name}.tmp"
        pq.write_table(table, tmp)
        tmp.replace(exports / f"{name}.parquet")
        paths.append(exports / f"{name}.parquet")
    return paths


def test_a_publication_links_the_builds_files_and_keeps_them_when_the_next_build_replaces_them(tmp_path):
    exports = tmp_path / "exports"
    first = publications.publish(exports, write_build(exports, 1))
    assert publications.current(exports).id == first.id
    assert first.marts == {"film_daily_box_office": 2, "film_performance": 2, "national_daily": 1}
    write_build(exports, 2)  # not published yet: the pointer still names the first build, whole
    held = pq.read_table(first.path("national_daily")).column("cinemas_reporting").to_pylist()
    assert held == [1] and publications.current(exports).id == first.id
    second = publications.publish(exports, sorted(exports.glob("*.parquet")))
    assert pq.read_table(second.path("national_daily")).column("cinemas_reporting").to_pylist() == [2]
    # Live exports are refreshed every minute: never part of a publication.
    pq.write_table(pa.table({"x": [1]}), exports / "live_today.parquet")
    assert "live_today" not in publications.publish(exports, []).marts


def test_only_the_newest_publications_are_kept(tmp_path):
    exports = tmp_path / "exports"
    made = [publications.publish(exports, write_build(exports, n)) for n in range(1, 6)]
    kept = sorted(p.name for p in publications.publications_dir(exports).iterdir() if p.is_dir())
    assert kept == sorted(p.id for p in made[-publications.KEEP :])
    assert publications.current(exports).id == made[-1].id


def test_no_answer_mixes_two_publications_while_they_swap_under_concurrent_reads(tmp_path):
    exports = tmp_path / "exports"
    versions = {publications.publish(exports, write_build(exports, 1)).id: 1}
    served = serve(exports, tmp_path / "keys.json")
    stop = threading.Event()

    def republish():
        version = 1
        while not stop.is_set():
            version += 1
            versions[publications.publish(exports, write_build(exports, version)).id] = version

    def read(_):
        answers = []
        while not stop.is_set():
            answers.append(served.get("/v1/box-office/daily", params={"date": DAY.isoformat()}).json())
        return answers

    try:
        with ThreadPoolExecutor(5) as pool:
            readers = [pool.submit(read, n) for n in range(4)]
            writer = pool.submit(republish)
            threading.Event().wait(4.0)
            stop.set()
            writer.result()
            answers = [a for r in readers for a in r.result()]
    finally:
        stop.set()
        served.stop()
    seen = set()
    for answer in answers:
        assert "publication" in answer, answer
        version = versions[answer["publication"]["id"]]
        seen.add(version)
        # The films' rows and the coverage beside them come from the publication the answer names.
        assert [Decimal(r["gross_kzt"]) for r in answer["data"]] == [version * 1000, version * 100]
        assert answer["coverage"]["cinemas_reporting"] == version
    assert len(answers) > 20 and len(seen) > 2, (len(answers), seen)


def test_a_publication_being_read_is_not_pruned_until_its_reader_lets_go(tmp_path):
    exports = tmp_path / "exports"
    first = publications.publish(exports, write_build(exports, 1))
    with publications.reading(first):
        for n in range(2, 2 + publications.KEEP + 1):
            publications.publish(exports, write_build(exports, n))
        assert first.directory.is_dir()  # held: left for a later prune
    publications.publish(exports, write_build(exports, 9))
    assert not first.directory.exists()
    with pytest.raises(FileNotFoundError), publications.reading(first):
        pass
