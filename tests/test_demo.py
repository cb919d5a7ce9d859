"""The demo's own steps that are not the pipeline's: the registry catching up with the demo's film, and
the distributors' reports a deployment starts with."""

from __future__ import annotations

import shutil
from datetime import date

from ekino_pipeline.demo import UNKNOWN_FILM, import_recent_reports, register_unknown_film
from ekino_pipeline.exchange.registry import SHIPPED_REGISTRY_DIR, load_registry


def test_the_demo_registers_the_film_its_faulty_cinema_screens_in_a_registry_that_still_loads(tmp_path):
    registry_dir = tmp_path / "registry"
    shutil.copytree(SHIPPED_REGISTRY_DIR, registry_dir)
    assert UNKNOWN_FILM not in load_registry(registry_dir).film_ids
    register_unknown_film(registry_dir)
    registry = load_registry(registry_dir)
    assert UNKNOWN_FILM in registry.film_ids
    assert len(registry.films) == len(load_registry(SHIPPED_REGISTRY_DIR).films) + 1


def test_the_demo_starts_with_distributors_reports_from_each_films_release_up_to_its_first_day(tmp_path):
    registry_dir = tmp_path / "registry"
    shutil.copytree(SHIPPED_REGISTRY_DIR, registry_dir)
    first = date(2026, 11, 16)  # a Monday: the film week holding it opened on Thursday 2026-11-12
    import_recent_reports(registry_dir, first, tmp_path / "reports.csv")
    registry = load_registry(registry_dir)
    films = {f.film_id: f for f in registry.films}
    recent = [r for r in registry.history if r.film_id and films[r.film_id].release_date.year == 2026]
    assert len({r.film_id for r in recent}) > 100
    assert max(r.period_start for r in recent) == date(2026, 11, 12)
    for film_id in {r.film_id for r in recent}:
        weeks = sorted(r.period_start for r in recent if r.film_id == film_id)
        assert weeks[0] == films[film_id].release_date
    shipped = load_registry(SHIPPED_REGISTRY_DIR).history
    assert set(shipped) <= set(registry.history)
