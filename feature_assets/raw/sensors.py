"""Landing sensors: request a raw partition whenever its day's landing files are new or changed.

Each tick lists the landed days of a source and fingerprints each day's files (name, size,
modification time). A day is requested when its partition exists at the tick's time and its
fingerprint differs from the one the cursor recorded, with run_key `<source>:<day>:<fingerprint>:<n>`
(the day's n-th request), so a file added to (or replaced or removed from) an already ingested day
requests it once more, even when its files return to an earlier set (same fingerprint, new n: Dagster
skips a run_key it has seen), and re-ingestion is idempotent.

- A day whose partition does not exist yet (today, or a future date: daily partition D exists
  from D+1 00:00 UTC) is not recorded, so a later tick requests it once the partition exists.
  A day before the partitions' start date (FEATURE_STORE_START_DATE) is never requested; each
  tick says so.
- At most `max_requests_per_tick` days are requested per tick, oldest first; the rest follow on
  the next ticks.
- When every file of a requested day is deleted, the tick says so and records an observation on the
  raw asset's partition (`landing_files: 0`): its raw rows, and all computed from them, stay as they
  were until the day is landed again, which requests it as usual. Nothing is deleted silently, and
  nothing is deleted automatically either: an emptied folder is more often an accident than a retraction.
- The cursor is JSON {day: "<fingerprint of the files last requested>#<requests so far>"} ("-" as
  the fingerprint: the files were deleted). Entries are never dropped: a year is ~365 entries of ~35
  bytes, and dropping one would re-request that day if its files are still there. A cursor written
  before the count (bare fingerprints) reads as one request so far.
- A run that fails is not requested again by the sensor until the day's files change; re-run it
  from the UI or a backfill. Moving an unreadable file to quarantine changes the day's files, so
  the sensor requests that day once more (ingesting what remains, idempotently).
"""

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import dagster as dg

from feature_assets.partitions import daily_partitions
from feature_assets.raw.assets import raw_asset_key
from feature_assets.repo import LANDED_SOURCES
from feature_store.declarations import Source
from feature_store.offline.landing import fingerprint
from resources import LandingZoneResource

DEFAULT_MIN_INTERVAL_SECONDS = 60
DEFAULT_MAX_REQUESTS_PER_TICK = 100


DELETED = "-"  # the cursor's fingerprint for a requested day whose files are gone


@dataclass(frozen=True)
class LandingPlan:
    """What one tick does: the (day, fingerprint, n-th request of the day) to request and the cursor."""

    requests: list[tuple[str, str, int]]
    cursor: dict[str, str]
    not_partitions: list[str] = field(default_factory=list)  # changed, but no partition (yet)
    deferred: list[str] = field(default_factory=list)  # changed and valid, beyond the tick's limit
    deleted: list[str] = field(default_factory=list)  # requested before, now without any file


def cursor_entry(value: str) -> tuple[str, int]:
    """(fingerprint, requests so far) of a cursor value."""
    fp, _, count = value.partition("#")
    return fp, int(count) if count.isdigit() else 1


def plan_requests(
    landed: Mapping[str, str],
    cursor: Mapping[str, str],
    valid_keys: Collection[str],
    limit: int = DEFAULT_MAX_REQUESTS_PER_TICK,
) -> LandingPlan:
    """Decide a tick from {day: fingerprint} landed, the recorded cursor and the existing partition keys."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    recorded = {day: cursor_entry(value) for day, value in cursor.items()}
    changed = sorted(day for day, fp in landed.items() if recorded.get(day, ("", 0))[0] != fp)
    valid = [day for day in changed if day in valid_keys]
    requests = [(day, landed[day], recorded.get(day, ("", 0))[1] + 1) for day in valid[:limit]]
    deleted = sorted(day for day, (fp, _) in recorded.items() if fp != DELETED and day not in landed)
    return LandingPlan(
        requests=requests,
        cursor={
            **cursor,
            **{day: f"{fp}#{n}" for day, fp, n in requests},
            **{day: f"{DELETED}#{recorded[day][1]}" for day in deleted},
        },
        not_partitions=[day for day in changed if day not in valid_keys],
        deferred=valid[limit:],
        deleted=deleted,
    )


def parse_cursor(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    value = json.loads(cursor)
    if not isinstance(value, dict):
        raise ValueError(f"landing sensor cursor must be a JSON object of day -> fingerprint, got {cursor!r}")
    return {str(k): str(v) for k, v in value.items()}


def _deleted_message(source: Source, days: list[str], location: str) -> str:
    return (
        f"every landing file of {len(days)} already requested day(s) of {source.name} is gone from "
        f"{location}/{source.landing_dir}: {', '.join(days[:10])}. Their rows in {source.table} (and all "
        "computed from them) stay until the day is landed again"
    )


def _waiting_message(source: Source, days: list[str], start_key: str) -> str:
    early = [d for d in days if d < start_key]
    later = [d for d in days if d >= start_key]
    parts = []
    if later:
        parts.append(
            f"{len(later)} landed day(s) of {source.name} have no partition yet and will be requested "
            f"once it exists (day D from D+1 00:00 UTC): {', '.join(later[:10])}"
        )
    if early:
        parts.append(
            f"{len(early)} landed day(s) of {source.name} are before the partitions' start date "
            f"{start_key} (FEATURE_STORE_START_DATE) and are never requested: {', '.join(early[:10])}"
        )
    return "; ".join(parts)


def build_landing_sensor(
    source: Source,
    minimum_interval_seconds: int = DEFAULT_MIN_INTERVAL_SECONDS,
    max_requests_per_tick: int = DEFAULT_MAX_REQUESTS_PER_TICK,
) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{source.name}_landing_sensor",
        target=[raw_asset_key(source)],
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Requests a {raw_asset_key(source).to_user_string()} partition when files land in "
            f"{source.landing_dir}/date=YYYY-MM-DD/ or a landed day's files change."
        ),
    )
    def landing_sensor(context: dg.SensorEvaluationContext, landing: LandingZoneResource) -> dg.SensorResult:
        zone = landing.get_landing_zone()
        landed = {
            day.isoformat(): fingerprint(files) for day, files in zone.landed_days(source.landing_dir).items()
        }
        # Partitions as of the tick: the ambient partition loading context's time, which is now
        # in the sensor daemon (and a test can pin it with dg.partition_loading_context).
        valid_keys = daily_partitions.get_partition_keys()
        plan = plan_requests(landed, parse_cursor(context.cursor), set(valid_keys), max_requests_per_tick)
        waiting = _waiting_message(source, plan.not_partitions, daily_partitions.start.date().isoformat())
        if plan.deferred:
            context.log.info(
                f"requesting the oldest {len(plan.requests)} changed day(s) of {source.name}; "
                f"{len(plan.deferred)} more follow on the next ticks"
            )
        deleted = _deleted_message(source, plan.deleted, zone.location) if plan.deleted else ""
        observations = [
            dg.AssetObservation(
                asset_key=raw_asset_key(source), partition=day,
                metadata={"landing_files": 0, "landing_status": f"all landing files deleted; {source.table} rows kept"},
            )
            for day in plan.deleted if day in valid_keys
        ]  # fmt: skip
        if deleted:
            context.log.warning(deleted)
        if not plan.requests:
            return dg.SensorResult(
                skip_reason="; ".join(m for m in (deleted, waiting) if m)
                or f"no new or changed landing files for {source.name} in {zone.location}",
                cursor=json.dumps(plan.cursor, sort_keys=True),
                asset_events=observations,
            )
        if waiting:
            context.log.info(waiting)
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    partition_key=day,
                    run_key=f"{source.name}:{day}:{fp}:{n}",
                    tags={"feature_store/landing_fingerprint": fp},
                )
                for day, fp, n in plan.requests
            ],
            cursor=json.dumps(plan.cursor, sort_keys=True),
            asset_events=observations,
        )

    return landing_sensor


landing_sensors = [build_landing_sensor(s) for s in LANDED_SOURCES]
