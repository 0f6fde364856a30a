"""File sensors over a temporary landing zone (a folder, and a bucket), and the fallback
schedule."""

import datetime as dt
import hashlib
import json
import time
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

import ingestion.file_sensing.planning as planning_module
import ingestion.file_sensing.tick as sensors_module
from ingestion.defs.feeds.assets import orders, sales
from ingestion.defs.schedules import daily_feeds_fallback_schedule
from ingestion.defs.sensors.daily_files import sales_file_sensor
from ingestion.defs.sensors.reference_files import reference_files_sensor
from ingestion.feeds import CUSTOMERS, ORDERS, PRODUCTS, SALES
from ingestion.tags import MANIFEST_TAG, SHA256_TAG, SOURCE_FILE_TAG
from platform_shared.cross_location import range_tags
from platform_shared.resources import LandingZone
from platform_shared.storage import FolderStore, Store

# What only a folder has: symlinks, files written in place, modification times.
FOLDER_ONLY = pytest.mark.parametrize("landing_kind", ["folder"])
DAY = "2025-01-02"
SALES_HEADER = ",".join(SALES.columns)
V1 = f"{SALES_HEADER}\n1,1,1,1,1,5.00,{DAY} 10:00:00\n"
V2 = f"{SALES_HEADER}\n1,1,1,1,2,5.00,{DAY} 10:00:00\n"


@pytest.fixture
def tick(landing: Store, caplog: pytest.LogCaptureFixture):
    """One evaluation, as the daemon runs it with the stored cursor; logs go to caplog."""

    def _tick(sensor: dg.SensorDefinition, cursor: str | None = None) -> dg.SensorResult:
        context = dg.build_sensor_context(
            cursor=cursor, resources={"landing": LandingZone(root=landing.url)}
        )
        context.log.addHandler(caplog.handler)
        result = sensor(context)
        assert isinstance(result, dg.SensorResult)
        return result

    return _tick


def requests(result: dg.SensorResult) -> list[dg.RunRequest]:
    return list(result.run_requests or [])


@pytest.fixture
def hashed(monkeypatch) -> list[str]:
    """Names of the files the sensor hashed (read), in order."""
    seen: list[str] = []
    original = sensors_module._sha256

    def spy(store: Store, name: str) -> str:
        seen.append(name)
        return original(store, name)

    monkeypatch.setattr(sensors_module, "_sha256", spy)
    return seen


def test_new_file_requests_one_run_of_its_partition(write, landing, tick):
    path = write(f"sales/{DAY}.csv", V1)

    (request,) = requests(tick(sales_file_sensor))

    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert request.partition_key == DAY
    assert request.asset_selection == [SALES.key]
    assert request.run_key == f"sales:{DAY}:{sha[:16]}:1"
    assert request.tags[SOURCE_FILE_TAG] == f"sales/{DAY}.csv"
    assert request.tags[SHA256_TAG] == sha


def test_same_file_again_requests_nothing_and_is_not_reread(write, landing, hashed, tick):
    write(f"sales/{DAY}.csv", V1)
    first = tick(sales_file_sensor)

    second = tick(sales_file_sensor, first.cursor)

    assert requests(second) == []
    assert len(hashed) == 1  # unchanged (size, mtime): no second read


def test_identical_redelivery_is_confirmed_without_a_run(write, landing, hashed, tick):
    write(f"sales/{DAY}.csv", V1)
    first = tick(sales_file_sensor)
    if not isinstance(landing, FolderStore):
        time.sleep(1.1)  # an object's modification time counts whole seconds
    write(f"sales/{DAY}.csv", V1, mtime=time.time() - 60)  # same bytes, new version

    second = tick(sales_file_sensor, first.cursor)
    third = tick(sales_file_sensor, second.cursor)

    assert requests(second) == []
    assert requests(third) == []
    assert len(hashed) == 2  # hashed once to confirm, then known again


def test_corrected_file_requests_exactly_one_new_run(write, landing, tick):
    write(f"sales/{DAY}.csv", V1)
    first = tick(sales_file_sensor)
    write(f"sales/{DAY}.csv", V2, mtime=time.time() - 60)

    second = tick(sales_file_sensor, first.cursor)
    third = tick(sales_file_sensor, second.cursor)

    (correction,) = requests(second)
    assert correction.partition_key == DAY
    assert correction.run_key != requests(first)[0].run_key
    assert correction.run_key == f"sales:{DAY}:{hashlib.sha256(V2.encode()).hexdigest()[:16]}:2"
    assert requests(third) == []


def test_file_returning_to_an_earlier_content_reloads(write, landing, tick):
    write(f"sales/{DAY}.csv", V1)
    first = tick(sales_file_sensor)
    write(f"sales/{DAY}.csv", V2, mtime=time.time() - 60)
    second = tick(sales_file_sensor, first.cursor)
    write(f"sales/{DAY}.csv", V1, mtime=time.time() - 30)

    (request,) = requests(tick(sales_file_sensor, second.cursor))

    # Same content as the first run, but a run key the daemon has not seen yet.
    assert request.run_key == f"sales:{DAY}:{hashlib.sha256(V1.encode()).hexdigest()[:16]}:3"


@FOLDER_ONLY
def test_file_being_written_is_deferred_until_it_settles(write, landing, hashed, tick, monkeypatch):
    path = write(f"sales/{DAY}.csv", SALES_HEADER + "\n1,1,1", mtime=None).path  # just written
    waits: list[float] = []

    def writer_goes_on(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:  # while the first tick waits for the file to age
            with path.open("a") as f:
                f.write(",1,1,5.00,2025-01-02 10:00:00\n")

    monkeypatch.setattr(sensors_module, "pause", writer_goes_on)
    first = tick(sales_file_sensor)
    second = tick(sales_file_sensor, first.cursor)

    assert requests(first) == []
    (request,) = requests(second)  # unchanged since the previous tick: no second wait
    assert len(waits) == 1
    assert 0 < waits[0] <= sensors_module.QUIET_SECONDS
    assert request.tags[SHA256_TAG] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(hashed) == 1  # never read while incomplete


@FOLDER_ONLY
def test_file_just_renamed_into_place_loads_in_the_same_tick(write, tick, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(sensors_module, "pause", waits.append)
    tmp = write(f"sales/.{DAY}.csv.tmp", V1, mtime=None).path
    tmp.rename(tmp.with_name(f"{DAY}.csv"))

    (request,) = requests(tick(sales_file_sensor))

    assert request.partition_key == DAY
    assert len(waits) == 1
    assert 0 < waits[0] <= sensors_module.QUIET_SECONDS


@FOLDER_ONLY
def test_settle_wait_is_bounded_for_a_future_mtime(write, tick, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(sensors_module, "pause", waits.append)
    write(f"sales/{DAY}.csv", V1, mtime=time.time() + 3600)  # a writer's clock ahead

    (request,) = requests(tick(sales_file_sensor))

    assert request.partition_key == DAY
    assert waits == [sensors_module.QUIET_SECONDS]


@pytest.mark.parametrize(
    "name", [f".{DAY}.csv", f"{DAY}.csv.tmp", f"{DAY}.csv.part", f"{DAY}.csv~", f".{DAY}.csv.swp"]
)
def test_temporary_names_are_ignored_quietly(write, landing, hashed, caplog, name, tick):
    write(f"sales/{name}", V1)

    result = tick(sales_file_sensor)

    assert requests(result) == []
    assert hashed == []
    assert "Skipping" not in caplog.text


def test_old_mtime_copy_is_picked_up(write, landing, tick):
    write(f"sales/{DAY}.csv", V1, mtime=time.time() - 60)
    first = tick(sales_file_sensor)
    # `cp -p` of older files: a new day, and a correction, both with older mtimes.
    write("sales/2025-01-01.csv", V1, mtime=time.time() - 86_400 * 30)
    write(f"sales/{DAY}.csv", V2, mtime=time.time() - 86_400 * 30)

    second = requests(tick(sales_file_sensor, first.cursor))

    assert sorted(r.partition_key or "" for r in second) == ["2025-01-01", DAY]


@FOLDER_ONLY
def test_hostile_names_and_symlinks_are_skipped_with_one_warning(
    tmp_path, write, landing_folder, hashed, caplog, tick
):
    outside = tmp_path / "outside.csv"
    outside.write_text(V1)
    write('sales/2025-01-03".csv', V1)
    write("sales/2025-01-0\n4.csv", V1)
    write("sales/2025-01-05.csv'); DROP TABLE x;--", V1)
    write("sales/x..y.csv", V1)
    write("sales/2025-02-30.csv", V1)
    (landing_folder / "sales/2025-01-06.csv").symlink_to(outside)
    (landing_folder / "sales/2025-01-07.csv").mkdir()

    first = tick(sales_file_sensor)

    assert requests(first) == []
    assert hashed == []  # none of them was read
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 7
    text = caplog.text
    assert "resolves outside the landing folder" in text
    assert "'2025-01-0\\n4.csv' is not YYYY-MM-DD.csv" in text  # newline escaped in the log
    assert "is not a valid date" in text
    assert "not a regular file" in text

    caplog.clear()
    second = tick(sales_file_sensor, first.cursor)
    assert requests(second) == []
    assert "Skipping" not in caplog.text  # reported once, not every 15 seconds


@pytest.mark.s3
@pytest.mark.parametrize("landing_kind", ["bucket"])
def test_hostile_object_keys_are_skipped_with_one_warning(landing, hashed, caplog, tick):
    # Keys no S3 client of the platform would write: put with the raw client.
    for name in [
        'sales/2025-01-03".csv',
        "sales/2025-01-0\n4.csv",
        "sales/2025-01-05.csv'); DROP TABLE x;--",
        "sales/x..y.csv",
        "sales/2025-02-30.csv",
        "sales/nested/2025-01-06.csv",  # a deeper prefix, as a sub-folder: not a file
    ]:
        landing.client.put_object(Bucket=landing.bucket, Key=f"{landing.prefix}/{name}", Body=V1)

    first = tick(sales_file_sensor)

    assert requests(first) == []
    assert hashed == []  # none of them was read
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 6
    assert "'2025-01-0\\n4.csv' is not YYYY-MM-DD.csv" in caplog.text
    assert "'nested' is not YYYY-MM-DD.csv" in caplog.text
    assert "is not a valid date" in caplog.text
    caplog.clear()
    assert requests(tick(sales_file_sensor, first.cursor)) == []
    assert "Skipping" not in caplog.text


@FOLDER_ONLY
def test_symlink_inside_the_landing_folder_is_followed(write, landing_folder, tick):
    target = write("archive/sales-2025-01-02.csv", V1).path
    (landing_folder / "sales").mkdir()
    (landing_folder / f"sales/{DAY}.csv").symlink_to(target)

    (request,) = requests(tick(sales_file_sensor))

    assert request.partition_key == DAY


def test_day_not_over_yet_waits(write, landing, caplog, tick):
    today = dt.datetime.now(dt.UTC).date().isoformat()
    write(f"sales/{today}.csv", V1)

    result = tick(sales_file_sensor)

    assert requests(result) == []
    assert f"sales/{today}.csv waits until its day is over" in caplog.text


def test_cursor_survives_a_restart(write, landing, tick):
    write(f"sales/{DAY}.csv", V1)
    write("sales/2025-01-01.csv", V1)
    first = tick(sales_file_sensor)
    assert len(requests(first)) == 2
    stored = first.cursor
    assert stored is not None

    # A new daemon process: only the stored cursor carries over.
    after_restart = tick(sales_file_sensor, stored)
    write("sales/2025-01-03.csv", V2)
    later = tick(sales_file_sensor, after_restart.cursor)

    assert requests(after_restart) == []
    assert [r.partition_key for r in requests(later)] == ["2025-01-03"]
    state = json.loads(stored)
    assert state["version"] == 2
    assert set(state["files"]) == {"sales/2025-01-01.csv", f"sales/{DAY}.csv"}
    assert state["files"][f"sales/{DAY}.csv"]["size"] == len(V1)


@FOLDER_ONLY
def test_a_cursor_of_the_previous_version_carries_over(write, tick):
    write(f"sales/{DAY}.csv", V1)
    state = json.loads(tick(sales_file_sensor).cursor or "")
    # As the release before object storage wrote it: a folder file's mtime_ns, a number.
    for entry in state["files"].values():
        entry["mtime_ns"] = int(entry.pop("version"))
    state["version"] = 1
    write("sales/2025-01-01.csv", V2)

    after_upgrade = tick(sales_file_sensor, json.dumps(state))

    assert [r.partition_key for r in requests(after_upgrade)] == ["2025-01-01"]


def test_unreadable_cursor_starts_over_with_a_warning(write, landing, caplog, tick):
    write(f"sales/{DAY}.csv", V1)

    result = tick(sales_file_sensor, cursor="1700000000.0")  # an mtime cursor

    assert len(requests(result)) == 1
    assert "Unreadable cursor" in caplog.text


def test_no_feed_folder_yet_is_a_skip(landing, tick):
    result = tick(sales_file_sensor)
    assert requests(result) == []
    assert result.skip_reason is not None


def sales_of(day: str, sale_id: int = 1) -> str:
    return f"{SALES_HEADER}\n{sale_id},1,1,1,1,5.00,{day} 10:00:00\n"


def deliver_days(write, first: dt.date, count: int) -> list[str]:
    keys = [(first + dt.timedelta(days=n)).isoformat() for n in range(count)]
    for key in keys:
        write(f"sales/{key}.csv", sales_of(key))
    return keys


def test_up_to_a_month_of_files_gets_a_run_per_file(write, tick):
    keys = deliver_days(write, dt.date(2025, 1, 1), planning_module.BULK_DELIVERY_FILES)

    result = tick(sales_file_sensor)

    assert [r.partition_key for r in requests(result)] == keys


def test_a_backlog_loads_as_a_range_run_per_stretch_of_days(write, landing, tick):
    stretch = deliver_days(write, dt.date(2025, 1, 1), 40)
    write("sales/2025-03-01.csv", sales_of("2025-03-01"))  # a day apart from the stretch

    result = tick(sales_file_sensor)

    ranged, single = requests(result)
    assert ranged.partition_key is None
    assert ranged.asset_selection == [SALES.key]
    assert ranged.tags[ASSET_PARTITION_RANGE_START_TAG] == stretch[0]
    assert ranged.tags[ASSET_PARTITION_RANGE_END_TAG] == stretch[-1]
    manifest = "".join(
        f"sales/{key}.csv {hashlib.sha256(sales_of(key).encode()).hexdigest()} 1\n"
        for key in stretch
    )
    digest = hashlib.sha256(manifest.encode()).hexdigest()
    assert ranged.tags[MANIFEST_TAG] == digest
    assert ranged.run_key == f"sales:{stretch[0]}..{stretch[-1]}:{digest[:16]}"
    assert SOURCE_FILE_TAG not in ranged.tags
    assert single.partition_key == "2025-03-01"
    # Every file is in the cursor: nothing again, and one correction is one run.
    assert requests(tick(sales_file_sensor, result.cursor)) == []
    write(f"sales/{stretch[3]}.csv", sales_of(stretch[3], sale_id=2), mtime=time.time() - 60)
    (again,) = requests(tick(sales_file_sensor, result.cursor))
    assert again.partition_key == stretch[3]
    assert (again.run_key or "").endswith(":2")


def test_a_long_backlog_is_cut_into_bounded_ranges(write, tick, monkeypatch):
    monkeypatch.setattr(planning_module, "BULK_RANGE_DAYS", 15)
    deliver_days(write, dt.date(2025, 1, 1), 40)

    ranges = [
        (r.tags[ASSET_PARTITION_RANGE_START_TAG], r.tags[ASSET_PARTITION_RANGE_END_TAG])
        for r in requests(tick(sales_file_sensor))
    ]

    assert ranges == [
        ("2025-01-01", "2025-01-15"),
        ("2025-01-16", "2025-01-30"),
        ("2025-01-31", "2025-02-09"),
    ]


def test_cursor_reset_after_a_range_load_requests_only_changed_files(write, landing, resources):
    """Range runs carry no per-file tags: the reject-rate check of the partition's latest
    load lists the version of each file it read, so a lost cursor reloads only what
    differs from it."""
    keys = deliver_days(write, dt.date(2025, 1, 1), 3)
    instance = dg.DagsterInstance.ephemeral()
    loaded = dg.materialize(
        [sales],
        resources=resources,
        instance=instance,
        tags=range_tags(dg.PartitionKeyRange(keys[0], keys[-1])),
    )
    assert loaded.success
    write(f"sales/{keys[1]}.csv", sales_of(keys[1], sale_id=7), mtime=time.time() - 60)

    context = dg.build_sensor_context(
        instance=instance,
        sensor_name="sales_file_sensor",
        resources={"landing": LandingZone(root=landing.url)},
    )
    result = sales_file_sensor(context)

    assert isinstance(result, dg.SensorResult)
    assert [r.partition_key for r in requests(result)] == [keys[1]]
    assert (requests(result)[0].run_key or "").endswith(":2")


def customers_csv(n: int) -> str:
    lines = [f"{i},C{i},c{i}@x.io,US,2024-01-01" for i in range(1, n + 1)]
    return "\n".join([",".join(CUSTOMERS.columns), *lines]) + "\n"


def products_csv(n: int) -> str:
    lines = [f"{i},P{i},toys,{i}.50" for i in range(1, n + 1)]
    return "\n".join([",".join(PRODUCTS.columns), *lines]) + "\n"


def test_reference_sensor_requests_both_changed_files_in_one_run(write, landing, tick):
    write("customers.csv", customers_csv(2))
    write("products.csv", products_csv(2))

    (request,) = requests(tick(reference_files_sensor))

    assert request.asset_selection == [CUSTOMERS.key, PRODUCTS.key]
    assert request.tags[SOURCE_FILE_TAG] == "customers.csv,products.csv"
    assert len(request.tags[SHA256_TAG].split(",")) == 2


def test_reference_sensor_tracks_each_file_separately(write, landing, tick):
    write("customers.csv", customers_csv(2))
    write("products.csv", products_csv(2))
    first = tick(reference_files_sensor)

    write("products.csv", products_csv(3), mtime=time.time() - 60)
    second = tick(reference_files_sensor, first.cursor)
    write("customers.csv", customers_csv(3), mtime=time.time() - 60)
    third = tick(reference_files_sensor, second.cursor)
    fourth = tick(reference_files_sensor, third.cursor)

    (only_products,) = requests(second)
    assert only_products.asset_selection == [PRODUCTS.key]
    (only_customers,) = requests(third)
    assert only_customers.asset_selection == [CUSTOMERS.key]
    assert requests(fourth) == []


@FOLDER_ONLY
def test_reference_sensor_skips_symlink_out_of_the_folder(tmp_path, landing_folder, caplog, tick):
    outside = tmp_path / "customers.csv"
    outside.write_text(customers_csv(1))
    (landing_folder / "customers.csv").symlink_to(outside)

    result = tick(reference_files_sensor)

    assert requests(result) == []
    assert "resolves outside the landing folder" in caplog.text


# -- fallback schedule ------------------------------------------------------------------


def schedule_tick(instance: dg.DagsterInstance, when: dt.datetime):
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when)
    return daily_feeds_fallback_schedule(context)


MORNING = dt.datetime(2025, 1, 3, 6, 0, tzinfo=dt.UTC)


def test_fallback_schedule_loads_yesterday_when_nothing_did():
    with dg.instance_for_test() as instance:
        request = schedule_tick(instance, MORNING)

    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == DAY
    assert request.asset_selection == [ORDERS.key, SALES.key]


def test_fallback_schedule_leaves_loaded_feeds_alone(write, resources):
    write(f"sales/{DAY}.csv", V1)
    write(f"orders/{DAY}.csv", f"{','.join(ORDERS.columns)}\n1,1,{DAY} 09:00:00,completed\n")
    with dg.instance_for_test() as instance:
        dg.materialize([sales], partition_key=DAY, resources=resources, instance=instance)
        only_orders = schedule_tick(instance, MORNING)
        dg.materialize([orders], partition_key=DAY, resources=resources, instance=instance)
        nothing = schedule_tick(instance, MORNING)

    assert isinstance(only_orders, dg.RunRequest)
    assert only_orders.asset_selection == [ORDERS.key]
    assert isinstance(nothing, dg.SkipReason)


def test_fallback_schedule_skips_a_day_not_over_in_utc():
    # 06:00 in Kiritimati (UTC+14) is 16:00 UTC the day before: "yesterday" is still open.
    when = dt.datetime(2025, 1, 3, 6, 0, tzinfo=ZoneInfo("Pacific/Kiritimati"))
    result = schedule_tick(dg.DagsterInstance.ephemeral(), when)
    assert isinstance(result, dg.SkipReason)
