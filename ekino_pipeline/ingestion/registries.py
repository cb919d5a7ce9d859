"""The national registries as Arrow tables, and their daily snapshot in the landing zone, so that
coverage can later say which cinemas were connected on a given day."""

from datetime import UTC, date, datetime

import pyarrow as pa

from ekino_pipeline.exchange.registry import REGISTRY_FILES, Registry
from ekino_pipeline.ingestion.landing import NATIONAL, LandingZone, new_attempt_id

REGISTRY_TABLES = REGISTRY_FILES


def registry_tables(registry: Registry) -> dict[str, pa.Table]:
    cinemas = registry.cinemas
    halls = [h for c in cinemas for h in c.halls]
    return {
        "regions": pa.Table.from_pylist([vars(r) for r in registry.regions]),
        "cinemas": pa.table(
            {
                "cinema_id": [c.cinema_id for c in cinemas],
                "name": [c.name for c in cinemas],
                "chain": [c.chain for c in cinemas],
                "city": [c.city for c in cinemas],
                "region_code": [c.region_code for c in cinemas],
                "timezone": [c.timezone for c in cinemas],
                "is_connected": [c.connected for c in cinemas],
                "base_url": [c.base_url for c in cinemas],
                "n_halls": pa.array([len(c.halls) for c in cinemas], pa.int32()),
                "seats": pa.array([c.seats for c in cinemas], pa.int32()),
            }
        ),
        "halls": pa.Table.from_pylist([vars(h) for h in halls]),
        "films": pa.table(
            {
                "film_id": [f.film_id for f in registry.films],
                "title": [f.title for f in registry.films],
                "original_title": [f.original_title for f in registry.films],
                "genres": [list(f.genres) for f in registry.films],
                "production_countries": [list(f.production_countries) for f in registry.films],
                "original_language": [f.original_language for f in registry.films],
                "release_date": [f.release_date for f in registry.films],
                "distributor": [f.distributor for f in registry.films],
                "is_domestic": [f.is_domestic for f in registry.films],
                "funding_project_id": [f.funding_project_id for f in registry.films],
                "runtime_minutes": pa.array([f.runtime_minutes for f in registry.films], pa.int32()),
                "distribution_certificate": pa.array(
                    [f.distribution_certificate for f in registry.films], pa.string()
                ),
                "certificate_date": pa.array([f.certificate_date for f in registry.films], pa.date32()),
            }
        ),
        "funding_grants": pa.table(
            {
                "project_id": [g.project_id for g in registry.grants],
                "title": [g.title for g in registry.grants],
                "producer": [g.producer for g in registry.grants],
                "grant_year": pa.array([g.grant_year for g in registry.grants], pa.int32()),
                "amount_kzt": pa.array([g.amount_kzt for g in registry.grants], pa.decimal128(16, 2)),
                "status": [g.status for g in registry.grants],
                "film_id": [g.film_id for g in registry.grants],
            }
        ),
        "rental_terms": _rental_terms_table(registry),
        "tax_rules": pa.table(
            {
                "rule_id": pa.array([t.rule_id for t in registry.tax_rules], pa.string()),
                "effective_from": pa.array([t.effective_from for t in registry.tax_rules], pa.date32()),
                "effective_to": pa.array([t.effective_to for t in registry.tax_rules], pa.date32()),
                "vat_rate_pct": pa.array([t.vat_rate_pct for t in registry.tax_rules], pa.decimal128(5, 2)),
                "film_fund_levy_pct": pa.array(
                    [t.film_fund_levy_pct for t in registry.tax_rules], pa.decimal128(5, 2)
                ),
            }
        ),
        "box_office_history": pa.table(
            {
                "film_id": pa.array([h.film_id for h in registry.history], pa.string()),
                "period": pa.array([h.period for h in registry.history], pa.string()),
                "period_start": pa.array([h.period_start for h in registry.history], pa.date32()),
                "gross_kzt": pa.array([h.gross_kzt for h in registry.history], pa.decimal128(18, 2)),
                "admissions": pa.array([h.admissions for h in registry.history], pa.int64()),
                "source": pa.array([h.source for h in registry.history], pa.string()),
                "source_date": pa.array([h.source_date for h in registry.history], pa.date32()),
            }
        ),
    }


def _rental_terms_table(registry: Registry) -> pa.Table:
    terms = registry.rental_terms
    money = pa.decimal128(16, 2)
    return pa.table(
        {
            "terms_id": pa.array([t.terms_id for t in terms], pa.string()),
            "film_id": pa.array([t.film_id for t in terms], pa.string()),
            "distributor": pa.array([t.distributor for t in terms], pa.string()),
            "scope": pa.array([t.scope for t in terms], pa.string()),
            "chain": pa.array([t.chain for t in terms], pa.string()),
            "cinema_id": pa.array([t.cinema_id for t in terms], pa.string()),
            "method": pa.array([t.method for t in terms], pa.string()),
            "rates_pct": pa.array([list(t.rates) for t in terms], pa.list_(pa.decimal128(5, 2))),
            "house_allowance_kzt": pa.array([t.house_allowance_kzt for t in terms], money),
            "fee_kzt": pa.array([t.fee_kzt for t in terms], money),
            "minimum_guarantee_kzt": pa.array([t.minimum_guarantee_kzt for t in terms], money),
            "effective_from": pa.array([t.effective_from for t in terms], pa.date32()),
            "effective_to": pa.array([t.effective_to for t in terms], pa.date32()),
            "terms_version": pa.array([t.terms_version for t in terms], pa.int32()),
        }
    )


def land_snapshot(
    zone: LandingZone, name: str, table: pa.Table, day: date, *, run_id: str | None, source: str
) -> None:
    """One registry table as the day's snapshot, committed like any cinema-day (slot `national`)."""
    dataset = f"registry_{name}"
    attempt_id = new_attempt_id()
    with zone.attempt(dataset, day, NATIONAL, attempt_id, run_id=run_id):
        writer = zone.open_writer(dataset, day, NATIONAL, "data", attempt_id, table.schema)
        writer.write(table)
        writer.commit()
        zone.commit(
            dataset,
            day,
            NATIONAL,
            {
                "dataset": dataset,
                "business_date": day.isoformat(),
                "attempt_id": attempt_id,
                "data_attempt_id": attempt_id,
                "status": "success",
                "served": table.num_rows,
                "landed": table.num_rows,
                "quarantined": 0,
                "duplicates_dropped": 0,
                "files": {"data": writer.path.name},
                "source": source,
                "finished_at": datetime.now(UTC).isoformat(),
            },
        )
