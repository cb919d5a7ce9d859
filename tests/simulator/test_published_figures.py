"""The published national figures live in the reported history and drive the simulator's demand: one
table, whichever side a reader starts from."""

from decimal import Decimal

from ekino_pipeline.exchange.registry import load_registry
from ekino_sim import SAMPLE_REGISTRY_DIR
from ekino_sim.history import NATIONAL_TOTALS
from ekino_sim.network import PUBLISHED_GROSS_BN


def test_the_simulator_is_calibrated_to_the_national_totals_the_history_reports():
    shipped = {
        r.period_start.year: r.gross_kzt
        for r in load_registry(SAMPLE_REGISTRY_DIR).history
        if r.film_id is None
    }
    assert shipped == {year: Decimal(total) for year, total in NATIONAL_TOTALS.items()}
    assert {year: Decimal(str(bn)) * 10**9 for year, bn in PUBLISHED_GROSS_BN.items()} == shipped
