"""The point-in-time join most people write in Spark: the baseline of benchmarks/pit_join.py.

Every label row is joined to every snapshot of its key that is not after its event time (a range
join: a label row at day k of a key's history meets k snapshots), then `row_number()` over each label
row, newest snapshot first, keeps one. A left join, so a label row before its key's first snapshot (or
whose key has no snapshot) survives with null features, like the feature store's join. The label rows
need a unique id to partition the window by.

Its cost grows with (label rows) x (snapshots per key before each label row): all those pairs are
materialised, shuffled by the row id and sorted, before all but one per row are thrown away.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

_KEY, _FTS, _RANK = "__snapshot_key", "__snapshot_feature_ts", "__rank"


def naive_point_in_time_join(
    labels: DataFrame,
    snapshots: DataFrame,
    key: str,
    event_ts: str,
    feature_ts: str,
    features: Sequence[str],
    row_id: str,
) -> DataFrame:
    """labels plus `features` of the snapshot with the same key and the greatest feature_ts <= event_ts.

    labels: one row per `row_id` (unique), with `key` and `event_ts`; snapshots: `key`, `feature_ts`
    and `features`. Output: labels' columns then the features; null features where nothing matched.
    """
    snaps = snapshots.select(F.col(key).alias(_KEY), F.col(feature_ts).alias(_FTS), *features)
    condition = (labels[key] == snaps[_KEY]) & (snaps[_FTS] <= labels[event_ts])
    joined = labels.join(snaps, condition, "left")
    newest_first = Window.partitionBy(row_id).orderBy(F.col(_FTS).desc())
    return (
        joined.withColumn(_RANK, F.row_number().over(newest_first))
        .where(F.col(_RANK) == 1)
        .select(*labels.columns, *features)
    )
