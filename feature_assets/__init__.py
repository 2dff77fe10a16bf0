"""The Dagster code location. We opt into beta/preview APIs on purpose (backfill policies,
partitioned asset checks, time-partition freshness checks); their warnings would drown every
CLI and UI log line, so they are silenced here, once."""

import warnings

import dagster as dg

for _category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
    warnings.filterwarnings("ignore", category=_category)
