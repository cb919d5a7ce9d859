"""The box office report: one HTML page per business day under `$EKINO_HOME/exports/report/`, built from
the exported marts through the analysts' API (`ekino_pipeline.analysis`), with plotly charts whose
library sits beside the pages, so that the folder works offline."""
