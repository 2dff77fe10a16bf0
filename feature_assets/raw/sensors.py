"""Landing sensors: request a raw partition whenever its day's landing files are new or changed.

Each tick lists the landed days of a source and fingerprints each day's files (name, size,
modification time). A day is requested when its partition exists at the tick's time and its
fingerprint differs from the one the cursor recorded, with run_key `<source>:<day>:<fingerprint>`,
so a file added to (or replaced or removed from) an already ingested day requests it once more and
re-ingestion is idempotent.

- A day whose partition does not exist yet (today, or a future date: daily partition D exists
  from D+1 00:00 UTC) is not recorded, so a later tick requests it once the partition exists.
  A day before the partitions' start date (FEATURE_STORE_START_DATE) is never requested; each
  tick says so.
- At most `max_requests_per_tick` days are requested per tick, oldest first; the rest follow on
  the next ticks.
- The cursor is JSON {day: fingerprint of the files last requested}. Entries are never dropped:
  a year is ~365 entries of ~30 bytes, and dropping one would re-request that day if its files
  are still there.
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
from feature_store.declarations import Source
from feature_store.landing import fingerprint
from feature_store.tables import RAW_SOURCES
from resources import LandingZoneResource

DEFAULT_MIN_INTERVAL_SECONDS = 60
DEFAULT_MAX_REQUESTS_PER_TICK = 100


@dataclass(frozen=True)
class LandingPlan:
    """What one tick does: the (day, fingerprint) pairs to request and the cursor to store."""

    requests: list[tuple[str, str]]
    cursor: dict[str, str]
    not_partitions: list[str] = field(default_factory=list)  # changed, but no partition (yet)
    deferred: list[str] = field(default_factory=list)  # changed and valid, beyond the tick's limit


def plan_requests(
    landed: Mapping[str, str],
    cursor: Mapping[str, str],
    valid_keys: Collection[str],
    limit: int = DEFAULT_MAX_REQUESTS_PER_TICK,
) -> LandingPlan:
    """Decide a tick from {day: fingerprint} landed, the recorded cursor and the existing partition keys."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    changed = sorted(day for day, fp in landed.items() if cursor.get(day) != fp)
    valid = [day for day in changed if day in valid_keys]
    requests = [(day, landed[day]) for day in valid[:limit]]
    return LandingPlan(
        requests=requests,
        cursor={**cursor, **dict(requests)},
        not_partitions=[day for day in changed if day not in valid_keys],
        deferred=valid[limit:],
    )


def parse_cursor(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    value = json.loads(cursor)
    if not isinstance(value, dict):
        raise ValueError(f"landing sensor cursor must be a JSON object of day -> fingerprint, got {cursor!r}")
    return {str(k): str(v) for k, v in value.items()}


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
        if not plan.requests:
            return dg.SensorResult(
                skip_reason=waiting
                or f"no new or changed landing files for {source.name} in {zone.location}",
                cursor=json.dumps(plan.cursor, sort_keys=True),
            )
        if waiting:
            context.log.info(waiting)
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    partition_key=day,
                    run_key=f"{source.name}:{day}:{fp}",
                    tags={"feature_store/landing_fingerprint": fp},
                )
                for day, fp in plan.requests
            ],
            cursor=json.dumps(plan.cursor, sort_keys=True),
        )

    return landing_sensor


landing_sensors = [build_landing_sensor(s) for s in RAW_SOURCES]
