"""Alerts to the owning team, against a real SMTP server and a real HTTP receiver on
loopback: what each one received, field by field."""

import datetime as dt
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

from platform_shared import alerts
from platform_shared import dagster_private as private
from tests.alert_receivers import Hooks, Mailbox, body, free_port, smtp_server, webhook_receiver

DAYS = dg.DailyPartitionsDefinition(start_date="2025-01-01")
# Stands for the credential a real webhook URL carries: it must never be logged.
TOKEN = secrets.token_hex(16)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture
def routed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mailbox: Mailbox, hooks: Hooks) -> Path:
    """Routes for two teams: each an address and a webhook (its URL in a variable)."""
    routes = tmp_path / "alerts.toml"
    routes.write_text(
        '[routes."team:red"]\nemail = ["red@example.com"]\nwebhook_env = "RED_HOOK"\n'
        '[routes."team:blue"]\nemail = "blue@example.com"\nwebhook_env = "BLUE_HOOK"\n'
    )
    monkeypatch.setenv("ALERT_ROUTES", str(routes))
    monkeypatch.setenv("ALERT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ALERT_SMTP_PORT", str(mailbox.port))
    monkeypatch.setenv("ALERT_EMAIL_FROM", "dagster@platform.test")
    monkeypatch.setenv("RED_HOOK", f"{hooks.url}/red?token={TOKEN}")
    monkeypatch.setenv("BLUE_HOOK", f"{hooks.url}/blue")
    monkeypatch.setenv("DAGSTER_WEBSERVER_URL", "http://ui.platform.test:3000/")
    return routes


# --- the definitions of two teams in one location ------------------------------------------


@dg.asset(key_prefix=["shop"], owners=["team:red"], partitions_def=DAYS)
def red_sales(context: dg.AssetExecutionContext) -> None:
    raise ValueError(f"bad data in {context.partition_key}: 3 rows with a negative quantity")


@dg.asset(key_prefix=["shop"], owners=["team:blue"], partitions_def=DAYS)
def blue_orders() -> None:
    return None


@dg.asset(
    key_prefix=["shop"],
    owners=["team:blue"],
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=26)),
)
def blue_summary() -> None:
    return None


RED_JOB = dg.define_asset_job("red_job", selection=[red_sales])
BLUE_JOB = dg.define_asset_job("blue_job", selection=[blue_orders])
RUN_ALERTS = alerts.run_failure_alerts_sensor("shop", ["team:red"])
FRESHNESS_ALERTS = alerts.freshness_alerts_sensor("shop")
DEFS = dg.Definitions(
    assets=[red_sales, blue_orders, blue_summary],
    jobs=[RED_JOB, BLUE_JOB],
    sensors=[RUN_ALERTS, FRESHNESS_ALERTS],
)


def _tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None) -> str:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=DEFS, sensor_name=sensor.name
    )
    data = sensor.evaluate_tick(context)
    assert data.cursor is not None
    return data.cursor


def _fail_red(instance: dg.DagsterInstance, day: str = "2025-03-04") -> dg.ExecuteInProcessResult:
    result = DEFS.resolve_job_def("red_job").execute_in_process(
        instance=instance, partition_key=day, raise_on_error=False
    )
    assert not result.success
    return result


def test_a_failed_run_notifies_exactly_its_owning_team_once(
    routed: Path, mailbox: Mailbox, hooks: Hooks
) -> None:
    with dg.instance_for_test() as instance:
        earlier = _fail_red(instance, "2025-03-03")
        # The first tick starts from now: history is not re-announced.
        cursor = _tick(RUN_ALERTS, instance, None)
        assert mailbox.messages == []
        assert hooks.received == []
        run = _fail_red(instance).dagster_run
        cursor = _tick(RUN_ALERTS, instance, cursor)

        (mail,) = mailbox.to("red@example.com")
        assert mailbox.to("blue@example.com") == []
        assert hooks.at("/blue") == []
        assert mail["Subject"] == "[shop] run failed: red_job [2025-03-04]"
        assert mail["From"] == "dagster@platform.test"
        text = body(mail)
        assert f"Run {run.run_id} of job red_job in location shop failed." in text
        assert "Partitions: 2025-03-04" in text
        assert "Assets:     shop/red_sales" in text
        assert "Failed step: shop__red_sales" in text
        assert "bad data in 2025-03-04: 3 rows with a negative quantity" in text
        assert "Retry:      none coming (attempt 1)" in text
        assert f"Run:        http://ui.platform.test:3000/runs/{run.run_id}" in text
        assert earlier.dagster_run.run_id not in text

        (hook,) = hooks.at(f"/red?token={TOKEN}")
        assert hook["kind"] == "run_failure"
        assert hook["location"] == "shop"
        assert hook["job"] == "red_job"
        assert hook["partitions"] == "2025-03-04"
        assert hook["assets"] == ["shop/red_sales"]
        assert hook["step"] == "shop__red_sales"
        assert hook["error"].startswith("ValueError: bad data in 2025-03-04")
        assert hook["retry"] == "none coming (attempt 1)"
        assert hook["run_url"] == f"http://ui.platform.test:3000/runs/{run.run_id}"
        assert hook["owners"] == ["team:red"]
        assert hook["text"] == text.rstrip("\n")

        # One notification per failed run, however often the sensor ticks.
        for _ in range(2):
            cursor = _tick(RUN_ALERTS, instance, cursor)
        assert len(mailbox.messages) == 1
        assert len(hooks.received) == 1


def test_a_target_that_is_down_does_not_stop_the_others_and_is_tried_again(
    routed: Path,
    mailbox: Mailbox,
    hooks: Hooks,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(alerts.deliver.retry, "sleep", lambda _: None)  # type: ignore[attr-defined]
    closed = f"http://127.0.0.1:{free_port()}/red?token={TOKEN}"
    monkeypatch.setenv("RED_HOOK", closed)
    with dg.instance_for_test() as instance:
        cursor = _tick(RUN_ALERTS, instance, None)
        _fail_red(instance)
        cursor = _tick(RUN_ALERTS, instance, cursor)
        # The email went out; the webhook failed three times, was logged without its URL,
        # and waits in the cursor.
        assert len(mailbox.to("red@example.com")) == 1
        assert hooks.received == []
        (pending,) = json.loads(cursor)["pending"]
        assert pending["target"] == {"channel": "webhook", "address": "RED_HOOK"}
        logged = capfd.readouterr().err
        assert "to webhook RED_HOOK failed after 3 attempts" in logged
        assert TOKEN not in logged
        assert TOKEN not in cursor

        # Back up: the next tick delivers it, once.
        monkeypatch.setenv("RED_HOOK", f"{hooks.url}/red?token={TOKEN}")
        cursor = _tick(RUN_ALERTS, instance, cursor)
        cursor = _tick(RUN_ALERTS, instance, cursor)
        assert len(hooks.at(f"/red?token={TOKEN}")) == 1
        assert json.loads(cursor)["pending"] == []
        assert len(mailbox.messages) == 1


def test_no_smtp_server_or_webhook_variable_logs_the_alert_instead(
    routed: Path,
    mailbox: Mailbox,
    hooks: Hooks,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ALERT_SMTP_HOST", "")
    monkeypatch.delenv("RED_HOOK")
    with dg.instance_for_test() as instance:
        cursor = _tick(RUN_ALERTS, instance, None)
        _fail_red(instance)
        cursor = _tick(RUN_ALERTS, instance, cursor)
    assert mailbox.messages == []
    assert hooks.received == []
    logged = capfd.readouterr().err
    assert "email red@example.com (ALERT_SMTP_HOST unset)" in logged
    assert "webhook (RED_HOOK unset)" in logged
    assert "3 rows with a negative quantity" in logged
    # Nothing a later tick could deliver is kept.
    assert json.loads(cursor)["pending"] == []


RETRYING = {
    "run_retries": {"enabled": True, "max_retries": 1, "retry_on_asset_or_op_failure": True}
}


def test_a_run_that_will_be_retried_is_reported_only_if_the_retry_never_starts(
    routed: Path, mailbox: Mailbox, hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    with dg.instance_for_test(overrides=RETRYING) as instance:
        cursor = _tick(RUN_ALERTS, instance, None)
        retried = _fail_red(instance).dagster_run
        stranded = _fail_red(instance, "2025-03-05").dagster_run
        for run in (retried, stranded):
            stored = instance.get_run_by_id(run.run_id)
            assert stored is not None
            assert stored.tags[private.WILL_RETRY_TAG] == "true"
        cursor = _tick(RUN_ALERTS, instance, cursor)
        assert mailbox.messages == []
        assert hooks.received == []
        assert set(json.loads(cursor)["waiting"]) == {retried.run_id, stranded.run_id}

        # The daemon launched the first one's retry: it speaks for itself from now on.
        instance.add_run_tags(retried.run_id, {private.AUTO_RETRY_RUN_ID_TAG: "retry-1"})
        cursor = _tick(RUN_ALERTS, instance, cursor)
        assert mailbox.messages == []
        assert set(json.loads(cursor)["waiting"]) == {stranded.run_id}

        # The second one's retry never came.
        monkeypatch.setattr(alerts, "RETRY_GRACE_SECONDS", 0)
        cursor = _tick(RUN_ALERTS, instance, cursor)
    (mail,) = mailbox.to("red@example.com")
    assert "[2025-03-05]" in mail["Subject"]
    (hook,) = hooks.at(f"/red?token={TOKEN}")
    assert hook["run_id"] == stranded.run_id
    assert hook["retry"] == "expected, but none started within 0 minutes (attempt 1)"
    assert json.loads(cursor)["waiting"] == {}


def _freshness(instance: dg.DagsterInstance, before: FreshnessState, after: FreshnessState) -> None:
    # What the daemon records when it evaluates the policy.
    instance.report_runless_asset_event(
        FreshnessStateChange(
            key=dg.AssetKey(["shop", "blue_summary"]),
            previous_state=before,
            new_state=after,
            state_change_timestamp=0.0,
        )
    )


def test_an_overdue_table_notifies_its_owners_once_and_once_when_it_recovers(
    routed: Path, mailbox: Mailbox, hooks: Hooks
) -> None:
    with dg.instance_for_test() as instance:
        _freshness(instance, FreshnessState.UNKNOWN, FreshnessState.PASS)
        cursor = _tick(FRESHNESS_ALERTS, instance, None)
        assert mailbox.messages == []
        _freshness(instance, FreshnessState.PASS, FreshnessState.FAIL)
        for _ in range(3):
            cursor = _tick(FRESHNESS_ALERTS, instance, cursor)
        (overdue,) = mailbox.to("blue@example.com")
        assert overdue["Subject"] == "[shop] shop/blue_summary is overdue"
        text = body(overdue)
        assert "updated at least every 26 hours" in text
        assert "http://ui.platform.test:3000/assets/shop/blue_summary" in text
        assert mailbox.to("red@example.com") == []

        _freshness(instance, FreshnessState.FAIL, FreshnessState.PASS)
        for _ in range(2):
            cursor = _tick(FRESHNESS_ALERTS, instance, cursor)
    assert [m["Subject"] for m in mailbox.to("blue@example.com")] == [
        "[shop] shop/blue_summary is overdue",
        "[shop] shop/blue_summary is fresh again",
    ]
    assert [h["kind"] for h in hooks.at("/blue")] == ["freshness_overdue", "freshness_recovered"]


def test_policies_read_as_words() -> None:
    cron = dg.FreshnessPolicy.cron(
        deadline_cron="0 7 * * *", lower_bound_delta=dt.timedelta(hours=24), timezone="UTC"
    )
    assert alerts.describe_policy(cron) == (
        "updated within the 1 day before each '0 7 * * *' deadline, UTC"
    )
    window = dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(minutes=90))
    assert alerts.describe_policy(window) == "updated at least every 90 minutes"


def test_routes_file_is_checked(tmp_path: Path) -> None:
    assert alerts.load_routes(tmp_path / "absent.toml") == {}
    bad = {
        "other.toml": "[teams]\n",
        "key.toml": '[routes."team:a"]\nwebhook = "https://x"\n',
        "email.toml": '[routes."team:a"]\nemail = ["not an address"]\n',
        "var.toml": '[routes."team:a"]\nwebhook_env = "A-B; rm"\n',
        "syntax.toml": "[routes\n",
    }
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(alerts.RoutesError):
            alerts.load_routes(tmp_path / name)


def test_the_repository_routes_every_location_team(pytestconfig: pytest.Config) -> None:
    routes = alerts.load_routes(pytestconfig.rootpath / "alerts.toml")
    workspace = yaml.safe_load((pytestconfig.rootpath / "workspace.yaml").read_text())
    names = {entry["grpc_server"]["location_name"] for entry in workspace["load_from"]}
    assert set(routes) == {f"team:{name}" for name in names}
    for owner, route in routes.items():
        assert route.emails, owner
        assert route.webhook_env, owner
