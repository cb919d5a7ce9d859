"""The box office report as a Dagster asset of the daily partitions: after the marts are built and
exported, it writes the pages of the run's days and the index (`$EKINO_HOME/exports/report/`).

It reads the exports only, never the warehouse, so it takes no slot of the `warehouse` pool: a report can
be written while the next load runs.
"""

import dagster as dg

from ekino_pipeline.ownership import BOX_OFFICE
from ekino_pipeline.partitions import DAILY_PARTITIONS, partition_days
from ekino_pipeline.report.marts import MARTS
from ekino_pipeline.transformation.assets import ekino_dbt_models
from ekino_pipeline.transformation.exports import ExportsResource

REPORT_KEY = dg.AssetKey("box_office_report")
REPORT_GROUP = "reports"
# The marts the pages read, as the daily dbt asset names them (whatever prefix its translator gives).
MART_KEYS = sorted(key for key in ekino_dbt_models.keys if key.path[-1] in MARTS)
assert len(MART_KEYS) == len(MARTS), f"the daily dbt build lacks a mart the report reads: {MARTS}"
# The forecasts of the same run are drawn on its pages (forecasting/assets.py); a job without them
# (the quarantine replay) draws the last ones published.
FORECASTS_KEY = dg.AssetKey("film_forecasts")


@dg.asset(
    key=REPORT_KEY,
    deps=[*MART_KEYS, FORECASTS_KEY],
    partitions_def=DAILY_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=REPORT_GROUP,
    kinds={"html", "plotly"},
    owners=["team:box-office"],
    tags=BOX_OFFICE,
    description=(
        "The box office report: one HTML page per business day (top 10 with coverage and provisional "
        "flags, the film week's chart, the leading films' trend, regions, cinemas that did not report, "
        "funding outcomes, today so far when live) and an index showing the latest day, under "
        "`$EKINO_HOME/exports/report/`. Charts drawn by plotly.js, kept beside the pages: it opens offline."
    ),
)
def box_office_report(context: dg.AssetExecutionContext, exports: ExportsResource) -> dg.MaterializeResult:
    # Imported when a report is written: the pages need pandas, plotly and jinja2, which loading the
    # definitions (every code server, daemon and run process) would otherwise import for nothing.
    from ekino_pipeline.report.page import build_report

    days = partition_days(context)
    report = build_report(days, exports=exports.directory_path)
    page = next((p for p in report.pages if p.day == days[-1]), None)
    context.log.info(f"box office report: {len(report.pages)} pages, index {report.index}")
    metadata = {
        "index": dg.MetadataValue.path(str(report.index)),
        "index_url": dg.MetadataValue.url(report.index.as_uri()),
        "day": str(days[-1]),
        "latest_day": str(report.latest_day) if report.latest_day else "none on record",
        "days_written": f"{days[0]}..{days[-1]}" if len(days) > 1 else str(days[0]),
        "pages": len(report.pages),
    }
    if page is not None:
        metadata |= {
            "page": dg.MetadataValue.path(str(page.path)),
            "charts": page.charts,
            "status": (
                f"provisional ({', '.join(page.provisional_reasons)})"
                if page.provisional_reasons
                else "final"
            ),
        }
    return dg.MaterializeResult(metadata=metadata)


ASSETS = [box_office_report]
