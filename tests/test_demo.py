"""The demo's own steps that are not the pipeline's: the registry catching up with the demo's film."""

from __future__ import annotations

import shutil

from ekino_pipeline.demo import UNKNOWN_FILM, register_unknown_film
from ekino_pipeline.exchange.registry import SHIPPED_REGISTRY_DIR, load_registry


def test_the_demo_registers_the_film_its_faulty_cinema_screens_in_a_registry_that_still_loads(tmp_path):
    registry_dir = tmp_path / "registry"
    shutil.copytree(SHIPPED_REGISTRY_DIR, registry_dir)
    assert UNKNOWN_FILM not in load_registry(registry_dir).film_ids
    register_unknown_film(registry_dir)
    registry = load_registry(registry_dir)
    assert UNKNOWN_FILM in registry.film_ids
    assert len(registry.films) == len(load_registry(SHIPPED_REGISTRY_DIR).films) + 1
