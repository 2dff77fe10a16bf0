"""Landing sensors: every landed day is requested once per distinct set of files, and only once its
partition exists. Partitions start on FEATURE_STORE_START_DATE (default 2025-01-01)."""

import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from examples.churn.repo import LABELS, RAW_SOURCES, TRANSACTIONS
from feature_assets.partitions import daily_partitions
from feature_assets.raw.assets import raw_asset_key
from feature_assets.raw.sensors import (
    build_landing_sensor,
    landing_sensors,
    parse_cursor,
    plan_requests,
)
from resources import LocalLandingZoneResource

START = daily_partitions.start.date()


def keys_at(now: datetime) -> set[str]:
    return set(daily_partitions.get_partition_keys(current_time=now))


def land(root: Path, source: str, day: date | str, name: str, payload: bytes = b"PAR1") -> Path:
    path = root / source / f"date={day}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def tick(sensor: dg.SensorDefinition, root: Path, instance: dg.DagsterInstance, cursor: str | None):
    context = dg.build_sensor_context(
        cursor=cursor,
        resources={"landing": LocalLandingZoneResource(root=str(root))},
        instance=instance,
    )
    result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


# plan_requests: the pure decision of one tick


def test_new_days_are_requested_once_oldest_first():
    valid = keys_at(datetime(2025, 3, 10, tzinfo=UTC))
    landed = {"2025-03-02": "b", "2025-03-01": "a"}
    first = plan_requests(landed, {}, valid)
    assert first.requests == [("2025-03-01", "a", 1), ("2025-03-02", "b", 1)]
    assert first.cursor == {"2025-03-01": "a#1", "2025-03-02": "b#1"}
    second = plan_requests(landed, first.cursor, valid)
    assert second.requests == []
    assert second.cursor == first.cursor


def test_changed_fingerprint_requests_the_day_again_once():
    valid = keys_at(datetime(2025, 3, 10, tzinfo=UTC))
    cursor = {"2025-03-01": "a#1", "2025-03-02": "b#1"}
    plan = plan_requests({"2025-03-01": "a2", "2025-03-02": "b"}, cursor, valid)
    assert plan.requests == [("2025-03-01", "a2", 2)]
    assert plan_requests({"2025-03-01": "a2", "2025-03-02": "b"}, plan.cursor, valid).requests == []


def test_files_returning_to_an_earlier_set_are_requested_under_a_new_count():
    """a -> a2 -> a: the third request has the first one's fingerprint; its count keeps the run_key new."""
    valid = keys_at(datetime(2025, 3, 10, tzinfo=UTC))
    cursor: dict[str, str] = {}
    seen = []
    for fp in ("a", "a2", "a"):
        plan = plan_requests({"2025-03-01": fp}, cursor, valid)
        seen += plan.requests
        cursor = plan.cursor
    assert seen == [("2025-03-01", "a", 1), ("2025-03-01", "a2", 2), ("2025-03-01", "a", 3)]


def test_a_cursor_from_before_the_count_reads_as_one_request():
    valid = keys_at(datetime(2025, 3, 10, tzinfo=UTC))
    assert plan_requests({"2025-03-01": "a"}, {"2025-03-01": "a"}, valid).requests == []
    assert plan_requests({"2025-03-01": "b"}, {"2025-03-01": "a"}, valid).requests == [("2025-03-01", "b", 2)]


def test_deleted_days_are_reported_once_and_requested_when_they_return():
    valid = keys_at(datetime(2025, 3, 10, tzinfo=UTC))
    gone = plan_requests({"2025-03-02": "b"}, {"2025-03-01": "a#1", "2025-03-02": "b#1"}, valid)
    assert gone.deleted == ["2025-03-01"] and gone.requests == []
    assert gone.cursor["2025-03-01"] == "-#1"
    assert plan_requests({"2025-03-02": "b"}, gone.cursor, valid).deleted == []  # said once
    back = plan_requests({"2025-03-01": "a", "2025-03-02": "b"}, gone.cursor, valid)
    assert back.requests == [("2025-03-01", "a", 2)]


def test_day_without_a_partition_is_not_recorded_and_requested_once_it_exists():
    landed = {"2025-03-09": "x", "2025-03-10": "y"}
    # 2025-03-10 12:00 UTC: the partition 2025-03-10 ends at 2025-03-11 00:00, so it doesn't exist yet.
    during = plan_requests(landed, {}, keys_at(datetime(2025, 3, 10, 12, tzinfo=UTC)))
    assert during.requests == [("2025-03-09", "x", 1)]
    assert during.not_partitions == ["2025-03-10"]
    assert "2025-03-10" not in during.cursor
    # One second after midnight the partition exists and the day is requested.
    after = plan_requests(landed, during.cursor, keys_at(datetime(2025, 3, 11, 0, 0, 1, tzinfo=UTC)))
    assert after.requests == [("2025-03-10", "y", 1)]
    assert after.not_partitions == []


def test_exact_partition_boundary():
    assert "2025-03-10" not in keys_at(datetime(2025, 3, 10, 23, 59, 59, tzinfo=UTC))
    assert "2025-03-10" in keys_at(datetime(2025, 3, 11, 0, 0, 0, tzinfo=UTC))


def test_day_before_the_start_date_is_never_requested():
    before = (START - timedelta(days=1)).isoformat()
    plan = plan_requests({before: "x"}, {}, keys_at(datetime(2025, 3, 10, tzinfo=UTC)))
    assert plan.requests == []
    assert plan.not_partitions == [before]
    assert plan.cursor == {}


def test_per_tick_limit_takes_the_oldest_and_the_rest_follow():
    valid = keys_at(datetime(2025, 3, 10, tzinfo=UTC))
    landed = {f"2025-02-{d:02d}": f"f{d}" for d in range(1, 8)}
    cursor: dict[str, str] = {}
    seen: list[str] = []
    for expected in (3, 3, 1, 0):
        plan = plan_requests(landed, cursor, valid, limit=3)
        assert len(plan.requests) == expected
        assert len(plan.deferred) == max(0, len(landed) - len(seen) - expected)
        seen += [day for day, _, _ in plan.requests]
        cursor = plan.cursor
    assert seen == sorted(landed)


def test_limit_must_be_positive():
    with pytest.raises(ValueError, match="limit"):
        plan_requests({}, {}, set(), limit=0)


def test_parse_cursor():
    assert parse_cursor(None) == {}
    assert parse_cursor("") == {}
    assert parse_cursor('{"2025-01-01": "abc"}') == {"2025-01-01": "abc"}
    with pytest.raises(ValueError, match="JSON object"):
        parse_cursor("[1]")


# The sensor definitions, evaluated through build_sensor_context


def test_sensor_definitions():
    assert [s.name for s in landing_sensors] == [f"{s.name}_landing_sensor" for s in RAW_SOURCES]
    for sensor in landing_sensors:
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
        assert "landing" in sensor.required_resource_keys
        assert sensor.minimum_interval_seconds == 60
    assert build_landing_sensor(TRANSACTIONS, minimum_interval_seconds=5).minimum_interval_seconds == 5


def stub_raw_asset(key: dg.AssetKey) -> dg.AssetsDefinition:
    @dg.asset(key=key, partitions_def=daily_partitions)
    def stub() -> None: ...

    return stub


def test_sensor_targets_the_raw_asset(tmp_path: Path):
    defs = dg.Definitions(
        assets=[stub_raw_asset(raw_asset_key(s)) for s in RAW_SOURCES],
        sensors=landing_sensors,
        resources={"landing": LocalLandingZoneResource(root=str(tmp_path))},
    )
    repo = defs.get_repository_def()
    for source in RAW_SOURCES:
        sensor = repo.get_sensor_def(f"{source.name}_landing_sensor")
        job = repo.get_job(sensor.job_name)
        assert job.asset_layer.selected_asset_keys == {raw_asset_key(source)}
        assert job.partitions_def == daily_partitions


def test_sensor_requests_each_landed_day_once_across_ticks(tmp_path: Path, instance):
    sensor = build_landing_sensor(TRANSACTIONS)
    land(tmp_path, "transactions", "2025-02-01", "part-0.parquet")
    land(tmp_path, "transactions", "2025-02-02", "part-0.parquet")
    land(tmp_path, "transactions", "2025-02-02", "notes.txt")  # not a parquet file: ignored
    land(tmp_path, "labels", "2025-02-03", "part-0.parquet")  # another source's day

    first = tick(sensor, tmp_path, instance, None)
    assert [r.partition_key for r in first.run_requests] == ["2025-02-01", "2025-02-02"]
    for request in first.run_requests:
        fp = json.loads(first.cursor)[request.partition_key].split("#")[0]
        assert request.run_key == f"transactions:{request.partition_key}:{fp}:1"

    second = tick(sensor, tmp_path, instance, first.cursor)
    assert second.run_requests == []
    assert second.skip_reason is not None
    assert "no new or changed landing files" in second.skip_reason.skip_message
    assert second.cursor == first.cursor

    # A file added to an already requested day requests it once more, with a new run key.
    os.utime(land(tmp_path, "transactions", "2025-02-01", "part-1.parquet"), (1, 1))
    third = tick(sensor, tmp_path, instance, second.cursor)
    assert [r.partition_key for r in third.run_requests] == ["2025-02-01"]
    assert third.run_requests[0].run_key not in {r.run_key for r in first.run_requests}
    assert tick(sensor, tmp_path, instance, third.cursor).run_requests == []

    labels = tick(build_landing_sensor(LABELS), tmp_path, instance, None)
    assert [r.partition_key for r in labels.run_requests] == ["2025-02-03"]


def test_sensor_waits_for_today_and_tomorrow_without_losing_them(tmp_path: Path, instance):
    sensor = build_landing_sensor(TRANSACTIONS)
    today = datetime.now(UTC).date()
    tomorrow = today + timedelta(days=1)
    land(tmp_path, "transactions", today, "part-0.parquet")
    land(tmp_path, "transactions", tomorrow, "part-0.parquet")

    now = tick(sensor, tmp_path, instance, None)
    assert now.run_requests == []
    assert now.skip_reason is not None
    assert "no partition yet" in now.skip_reason.skip_message
    assert tomorrow.isoformat() in now.skip_reason.skip_message
    assert parse_cursor(now.cursor) == {}

    # Two days later both partitions exist: each is requested exactly once.
    later = datetime.combine(tomorrow + timedelta(days=1), datetime.min.time(), UTC) + timedelta(seconds=1)
    with dg.partition_loading_context(effective_dt=later):
        then = tick(sensor, tmp_path, instance, now.cursor)
        assert [r.partition_key for r in then.run_requests] == [today.isoformat(), tomorrow.isoformat()]
        assert tick(sensor, tmp_path, instance, then.cursor).run_requests == []


def test_sensor_skips_days_before_the_start_date(tmp_path: Path, instance):
    before = START - timedelta(days=3)
    land(tmp_path, "transactions", before, "part-0.parquet")
    result = tick(build_landing_sensor(TRANSACTIONS), tmp_path, instance, None)
    assert result.run_requests == []
    assert result.skip_reason is not None
    assert "before the partitions' start date" in result.skip_reason.skip_message


def test_sensor_limits_requests_per_tick(tmp_path: Path, instance):
    sensor = build_landing_sensor(TRANSACTIONS, max_requests_per_tick=2)
    days = [date(2025, 1, 1) + timedelta(days=i) for i in range(5)]
    for day in days:
        land(tmp_path, "transactions", day, "part-0.parquet")
    cursor = None
    requested: list[str] = []
    for _ in range(4):
        result = tick(sensor, tmp_path, instance, cursor)
        assert len(result.run_requests) <= 2
        requested += [r.partition_key for r in result.run_requests]
        cursor = result.cursor
    assert requested == [d.isoformat() for d in days]


def test_empty_landing_zone(tmp_path: Path, instance):
    result = tick(build_landing_sensor(TRANSACTIONS), tmp_path, instance, None)
    assert result.run_requests == []
    assert result.cursor == "{}"


def test_sensor_reports_a_day_whose_files_were_all_deleted(tmp_path: Path, instance):
    sensor = build_landing_sensor(TRANSACTIONS)
    kept = land(tmp_path, "transactions", "2025-02-01", "part-0.parquet")
    removed = land(tmp_path, "transactions", "2025-02-02", "part-0.parquet")
    first = tick(sensor, tmp_path, instance, None)
    removed.unlink()
    removed.parent.rmdir()

    second = tick(sensor, tmp_path, instance, first.cursor)
    assert second.run_requests == []
    message = second.skip_reason.skip_message
    assert "every landing file of 1 already requested day(s) of transactions is gone" in message
    assert "2025-02-02" in message and "raw.transactions" in message
    (observation,) = second.asset_events
    assert observation.asset_key == raw_asset_key(TRANSACTIONS) and observation.partition == "2025-02-02"
    assert observation.metadata["landing_files"].value == 0

    third = tick(sensor, tmp_path, instance, second.cursor)  # reported once
    assert third.asset_events == [] and "gone" not in third.skip_reason.skip_message
    land(tmp_path, "transactions", "2025-02-02", "part-0.parquet")  # landed again
    again = tick(sensor, tmp_path, instance, third.cursor)
    assert [(r.partition_key, r.run_key.rsplit(":", 1)[1]) for r in again.run_requests] == [
        ("2025-02-02", "2")
    ]
    assert kept.exists()
