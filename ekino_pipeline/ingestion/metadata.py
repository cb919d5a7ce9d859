"""What the pull assets tell people about a run: a table of the cinemas over the window with their
states and totals, each day's own figures, the days pulled beside the window, and the reconciliation
check (served = landed + quarantined + duplicates dropped, per cinema-day)."""

from collections import Counter
from datetime import date
from decimal import Decimal

import dagster as dg

from ekino_pipeline.display import kzt, short_error
from ekino_pipeline.exchange.registry import Registry
from ekino_pipeline.reporting_states import cinema_day_state, is_reporting, worst

RECONCILE_CHECK = "served_equals_landed_quarantined_duplicates"


def status_metadata(
    reg: Registry,
    dataset: str,
    manifests: dict[tuple[str, date], dict],
    days: list[date],
    sessions: dict[tuple[str, date], dict],
):
    """Metadata for people: one row per cinema over the window, totals and coverage.

    For ticket events, a cinema's `status` is its reporting state (ekino_pipeline.reporting_states),
    the worst over the window's days, read with the sessions manifest of the same day; coverage counts
    the connected cinemas reporting on the window's last day. The sessions pull runs before the ticket
    events one, so its metadata says only whether each pull succeeded.
    """
    per_cinema: dict[str, list[dict]] = {}
    for (cinema_id, _day), manifest in sorted(manifests.items()):
        per_cinema.setdefault(cinema_id, []).append(manifest)
    by_events = dataset == "ticket_events"

    def state(cinema_id: str, day: date) -> str:
        return cinema_day_state(sessions.get((cinema_id, day)), manifests.get((cinema_id, day)))

    # Few and short columns, so that the table fits the page: the region is in the registry, and an
    # error is cut to its cause (the landing manifest of the cinema-day keeps the full text).
    records = []
    for cinema_id, items in per_cinema.items():
        failed = [m for m in items if m["status"] != "success"]
        row: dict = {"cinema_id": cinema_id}
        if by_events:
            states = [state(cinema_id, day) for day in days]
            row["status"] = worst(states)
            row["days_reporting"] = sum(map(is_reporting, states))
        else:
            row["status"] = "failed" if failed else "success"
        row.update(
            records=sum(m.get("landed", 0) for m in items),
            gross_kzt=kzt(sum(Decimal(m.get("gross_kzt") or 0) for m in items)),
            quarantined=sum(m.get("quarantined", 0) for m in items),
            error=_error_cell(failed[-1]) if failed else "",
        )
        records.append(dg.TableRecord(row))
    columns = [
        dg.TableColumn("cinema_id", "string"),
        dg.TableColumn(
            "status",
            "string",
            description="worst reporting state over the window: failed, not_pulled, quarantined, silent, "
            "reported, no_sessions"
            if by_events
            else "success, or failed on some day of the window",
        ),
    ]
    if by_events:
        columns.append(dg.TableColumn("days_reporting", "int", description="reported or no_sessions"))
    columns += [
        dg.TableColumn("records", "int"),
        dg.TableColumn("gross_kzt", "string", description="exact decimal, tenge"),
        dg.TableColumn("quarantined", "int"),
        dg.TableColumn("error", "string", description="the cause; the full text is in the landing manifest"),
    ]
    total = lambda field: sum(m.get(field) or 0 for m in manifests.values())  # noqa: E731
    last_day = days[-1]
    metadata = {
        "cinemas": dg.TableMetadataValue(records=records, schema=dg.TableSchema(columns=columns)),
        "days": len(days),
        "served": total("served"),
        "landed": total("landed"),
        "quarantined": total("quarantined"),
        "duplicates_dropped": total("duplicates_dropped"),
        "discarded_served": total("discarded_served"),
        "failed_cinema_days": sum(1 for m in manifests.values() if m["status"] != "success"),
        # Failures the disk refused to record: the cinemas table is their only trace.
        "failed_manifests_not_written": sum(1 for m in manifests.values() if m.get("committed") is False),
        "dagster/row_count": total("landed"),
        "cinemas_connected": len(reg.connected_cinemas),
        "cinemas_total": len(reg.cinemas),
    }
    if by_events:
        last_states = Counter(state(c.cinema_id, last_day) for c in reg.connected_cinemas)
        reporting = sum(n for s, n in last_states.items() if is_reporting(s))
        metadata.update(
            coverage=(
                f"{last_day}: {reporting} reporting / {len(reg.connected_cinemas)} connected / "
                f"{len(reg.cinemas)} cinemas"
            ),
            cinemas_reporting=reporting,
            cinema_states=dg.MetadataValue.json(dict(sorted(last_states.items()))),
            gross_kzt=kzt(sum(Decimal(m.get("gross_kzt") or 0) for m in manifests.values())),
        )
    else:
        metadata["cinemas_with_sessions"] = sum(
            1 for (_, d), m in manifests.items() if d == last_day and m["status"] == "success" and m["landed"]
        )
    return metadata


def _error_cell(manifest: dict) -> str:
    cell = short_error(manifest.get("error"))
    if manifest.get("committed") is False:  # no manifest keeps the full text: say so
        cell += "; the failed manifest could not be written"
    return cell


def day_metadata(
    reg: Registry, dataset: str, manifests: dict[tuple[str, date], dict], sessions: dict, day: date
) -> dict:
    """One business day's own figures, for its partition of a run over many days."""
    of_day = [m for (_, d), m in manifests.items() if d == day]
    metadata = {
        "dagster/partition_row_count": sum(m.get("landed") or 0 for m in of_day),
        "failed_cinema_days": sum(1 for m in of_day if m["status"] != "success"),
        "gross_kzt": kzt(sum(Decimal(m.get("gross_kzt") or 0) for m in of_day)),
    }
    if dataset == "ticket_events":
        states = Counter(
            cinema_day_state(sessions.get((c.cinema_id, day)), manifests.get((c.cinema_id, day)))
            for c in reg.connected_cinemas
        )
        reporting = sum(n for state, n in states.items() if is_reporting(state))
        metadata["cinemas_reporting"] = reporting
        metadata["cinema_states"] = dg.MetadataValue.json(dict(sorted(states.items())))
        metadata["coverage"] = (
            f"{day}: {reporting:,} reporting / {len(reg.connected_cinemas):,} connected / "
            f"{len(reg.cinemas):,} cinemas"
        )
    return metadata


def reconcile(manifests: dict[tuple[str, date], dict]) -> dg.AssetCheckResult:
    mismatched = [
        f"{c} {d}: served {m['served']} != landed {m['landed']} + quarantined {m['quarantined']} "
        f"+ duplicates {m['duplicates_dropped']}"
        for (c, d), m in sorted(manifests.items())
        if m["served"] != m["landed"] + m["quarantined"] + m["duplicates_dropped"]
    ]
    return dg.AssetCheckResult(
        check_name=RECONCILE_CHECK,
        passed=not mismatched,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "cinema_days_checked": len(manifests),
            "mismatches": len(mismatched),
            "details": dg.MetadataValue.md("\n".join(f"- {m}" for m in mismatched[:50]) or "none"),
        },
    )


def extra_metadata(prefix: str, n_days: int, extra: dict[tuple[str, date], dict]) -> dict:
    """The days pulled beside the window (`prefix` lookback or upcoming): what was pulled and failed."""
    failed = [(c, d, m) for (c, d), m in sorted(extra.items()) if m["status"] != "success"]
    metadata = {
        f"{prefix}_days": n_days,
        f"{prefix}_cinema_days_pulled": len(extra),
        f"{prefix}_landed": sum(m.get("landed") or 0 for m in extra.values()),
        f"{prefix}_failed_cinema_days": len(failed),
    }
    if failed:
        metadata[f"{prefix}_failures"] = dg.MetadataValue.md(
            "\n".join(f"- {c} {d}: {short_error(m.get('error'))}" for c, d, m in failed[:50])
        )
    return metadata
