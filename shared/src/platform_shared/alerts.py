"""Tell the team that owns it when a run fails or a table goes stale.

Each location runs the two sensors this module builds, for its own runs and assets: only a
location knows its assets' owners without importing another team's code. The owners the
assets declare (``keys.py``: ``OWNERS``) are mapped to routes in one file,
``ALERT_ROUTES`` (``alerts.toml`` at the repository root)::

    [routes."team:ingestion"]
    email = ["ingestion-oncall@example.com"]
    webhook_env = "INGESTION_ALERTS_WEBHOOK"   # the variable (or *_FILE) holding the URL

An owner that is itself an email address is mailed directly. Webhook URLs usually carry
their own credentials, so the file names the variable that holds one, never the URL, and
no URL is ever logged.

**Run failures.** One message per failed run, to the owners of the assets it was to
materialize. A run that the platform will retry (``run_retries``: its process died) is
held until its fate is known: if the retry is launched, the failed run says nothing (the
retry speaks for itself if it fails too); if no retry starts within
:data:`RETRY_GRACE_SECONDS`, the message goes out saying so.

**Freshness.** The daemon evaluates the assets' freshness policies and records each
change of state; the freshness sensor tells the owners once when a table becomes overdue
(``FAIL``) and once when it recovers.

**Delivery.** Each message is tried a few times within a tick (tenacity); what still
fails is logged, kept in the sensor's cursor and tried again on the next ticks for
:data:`UNDELIVERED_KEEP_SECONDS`. One team's broken target never stops another's message
or fails the sensor.
"""

from __future__ import annotations

import datetime as dt
import json
import smtplib
import ssl
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import DagsterEventType, DagsterInstance, DagsterRun
from tenacity import retry, stop_after_attempt, wait_exponential

from platform_shared import dagster_private as private
from platform_shared.settings import current, named_secret, secret

RUN_FAILURE_INTERVAL_SECONDS = 30
FRESHNESS_INTERVAL_SECONDS = 30
# A retry is launched by the daemon seconds after the failure; ten minutes without one
# means it is not coming (the daemon could not reach the location, or is down).
RETRY_GRACE_SECONDS = 600
UNDELIVERED_KEEP_SECONDS = 3600
_ATTEMPTS = 3
_TIMEOUT_SECONDS = 10
_MAX_ERROR_CHARS = 2000


class RoutesError(ValueError):
    """``ALERT_ROUTES`` is not a valid routes file."""


@dataclass(frozen=True)
class Route:
    """Where one owner's alerts go."""

    emails: tuple[str, ...] = ()
    webhook_env: str | None = None


@dataclass(frozen=True)
class Alert:
    """One message, as sent by email (subject and text) and webhook (JSON of all fields)."""

    kind: str  # "run_failure", "freshness_overdue" or "freshness_recovered"
    subject: str
    text: str
    owners: tuple[str, ...]
    details: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """What a webhook receives; ``text`` makes it a valid chat incoming-webhook body."""
        return {"kind": self.kind, "subject": self.subject, "text": self.text, **self.details}


def load_routes(path: str | Path | None = None) -> dict[str, Route]:
    """The routes of ``ALERT_ROUTES``; an empty mapping when the file does not exist."""
    file = Path(path or current("ALERT_ROUTES"))
    if not file.is_file():
        return {}
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise RoutesError(f"{file}: {error}") from error
    routes: dict[str, Route] = {}
    unknown_top = set(data) - {"routes"}
    if unknown_top:
        raise RoutesError(f"{file}: unknown tables {sorted(unknown_top)}; expected [routes.*]")
    for owner, entry in (data.get("routes") or {}).items():
        if not isinstance(entry, dict) or set(entry) - {"email", "webhook_env"}:
            raise RoutesError(f"{file}: routes.{owner!r} takes only email and webhook_env")
        emails = entry.get("email", [])
        emails = [emails] if isinstance(emails, str) else emails
        if not all(isinstance(e, str) and "@" in e for e in emails):
            raise RoutesError(f"{file}: routes.{owner!r}.email must be addresses")
        webhook_env = entry.get("webhook_env")
        if webhook_env is not None and not (
            isinstance(webhook_env, str) and webhook_env.replace("_", "").isalnum()
        ):
            raise RoutesError(f"{file}: routes.{owner!r}.webhook_env must name a variable")
        routes[owner] = Route(tuple(emails), webhook_env)
    return routes


# --- delivery -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One channel of one owner: ``("email", address)`` or ``("webhook", variable)``."""

    channel: str
    address: str

    def describe(self) -> str:
        # A webhook is named by its variable: the URL may hold a token.
        return f"{self.channel} {self.address}"


def targets_for(
    owners: Iterable[str], routes: Mapping[str, Route]
) -> tuple[list[Target], list[str]]:
    """The distinct targets of ``owners`` that this deployment can reach, and what could
    not be routed: owners without a route, emails without an SMTP server, webhooks whose
    variable is unset (none of which a later tick would fix)."""
    targets: list[Target] = []
    missing: list[str] = []
    for owner in owners:
        route = routes.get(owner)
        if route is None and "@" in owner and not owner.startswith("team:"):
            route = Route(emails=(owner,))
        if route is None:
            missing.append(f"{owner} (no route)")
            continue
        found: list[Target] = []
        for address in route.emails:
            if current("ALERT_SMTP_HOST"):
                found.append(Target("email", address))
            else:
                missing.append(f"{owner}: email {address} (ALERT_SMTP_HOST unset)")
        if route.webhook_env:
            if named_secret(route.webhook_env):
                found.append(Target("webhook", route.webhook_env))
            else:
                missing.append(f"{owner}: webhook ({route.webhook_env} unset)")
        targets += [t for t in found if t not in targets]
    return targets, missing


def _send_email(address: str, alert: Alert) -> None:
    host = current("ALERT_SMTP_HOST")
    if not host:
        raise RuntimeError("ALERT_SMTP_HOST is not set")
    message = EmailMessage()
    message["From"] = current("ALERT_EMAIL_FROM")
    message["To"] = address
    message["Subject"] = alert.subject
    message.set_content(alert.text)
    user = current("ALERT_SMTP_USER")
    with smtplib.SMTP(host, int(current("ALERT_SMTP_PORT")), timeout=_TIMEOUT_SECONDS) as smtp:
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        elif user:
            raise RuntimeError(f"{host} offers no STARTTLS: not sending credentials in clear")
        if user:
            smtp.login(user, secret("ALERT_SMTP_PASSWORD") or "")
        smtp.send_message(message)


def _post_webhook(variable: str, alert: Alert) -> None:
    url = named_secret(variable)
    if not url:
        raise RuntimeError(f"{variable} (or {variable}_FILE) is not set")
    if not url.startswith(("https://", "http://")):
        raise RuntimeError(f"{variable} does not hold an http(s) URL")
    # Only http(s): checked above, so no file: or custom scheme reaches urlopen.
    request = urllib.request.Request(  # noqa: S310
        url,
        data=json.dumps(alert.payload()).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:  # noqa: S310
        response.read()


@retry(
    stop=stop_after_attempt(_ATTEMPTS),
    wait=wait_exponential(multiplier=0.5, max=4),
    reraise=True,
)
def deliver(target: Target, alert: Alert) -> None:
    """Send ``alert`` to ``target``, retried a few times; raises the last error."""
    if target.channel == "email":
        _send_email(target.address, alert)
    else:
        _post_webhook(target.address, alert)


def _error_text(error: BaseException) -> str:
    # urllib's errors repeat the URL; say only what kind of failure it was.
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code}"
    if isinstance(error, urllib.error.URLError):
        return f"unreachable ({type(error.reason).__name__}: {error.reason})"
    return f"{type(error).__name__}: {error}"


@dataclass
class Outbox:
    """Messages not delivered yet, carried in a sensor's cursor between ticks."""

    pending: list[dict[str, Any]] = field(default_factory=list)

    def send(self, log: Any, target: Target, alert: Alert, since: float | None = None) -> bool:
        """Deliver now; on failure log it and keep it for the next ticks. True if sent."""
        try:
            deliver(target, alert)
        except Exception as error:  # one broken target must not stop the others
            first = since or time.time()
            keep = time.time() - first < UNDELIVERED_KEEP_SECONDS
            log.error(
                f"alert '{alert.subject}' to {target.describe()} failed after {_ATTEMPTS} "
                f"attempts: {_error_text(error)}; "
                + ("will try again next tick" if keep else "giving up")
            )
            if keep:
                self.pending.append(
                    {"target": asdict(target), "alert": asdict(alert), "since": first}
                )
            return False
        log.info(f"alert '{alert.subject}' sent to {target.describe()}")
        return True

    def retry_pending(self, log: Any) -> int:
        """Try the messages kept from earlier ticks again; how many went out."""
        earlier, self.pending = self.pending, []
        sent = 0
        for item in earlier:
            alert = Alert(**{**item["alert"], "owners": tuple(item["alert"]["owners"])})
            sent += self.send(log, Target(**item["target"]), alert, since=item["since"])
        return sent


def notify(log: Any, outbox: Outbox, alert: Alert, routes: Mapping[str, Route]) -> list[Target]:
    """Send ``alert`` to every target of its owners; the targets it reached."""
    targets, missing = targets_for(alert.owners, routes)
    if missing:
        log.warning(
            f"alert '{alert.subject}' not sent to {'; '.join(missing)} "
            f"(routes: {current('ALERT_ROUTES')}); logged here instead:\n{alert.text}"
        )
    return [t for t in targets if outbox.send(log, t, alert)]


# --- run failures -------------------------------------------------------------------------


def _ui(path: str) -> str:
    return f"{current('DAGSTER_WEBSERVER_URL').rstrip('/')}/{path.lstrip('/')}"


def run_partitions(run: DagsterRun) -> str | None:
    """The partition or partition range ``run`` was for, as its tags say."""
    tags = run.tags
    start = tags.get(private.ASSET_PARTITION_RANGE_START_TAG)
    end = tags.get(private.ASSET_PARTITION_RANGE_END_TAG)
    if start and end:
        return start if start == end else f"{start}...{end}"
    return tags.get(private.PARTITION_NAME_TAG)


def planned_assets(instance: DagsterInstance, run: DagsterRun) -> list[dg.AssetKey]:
    """The assets ``run`` was to materialize: its planned materializations, else its
    selection."""
    records = instance.get_records_for_run(
        run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records
    keys = [r.asset_key for r in records if r.asset_key is not None]
    if not keys and run.asset_selection:
        keys = sorted(run.asset_selection, key=lambda k: k.to_user_string())
    return list(dict.fromkeys(keys))


def failure_cause(instance: DagsterInstance, run: DagsterRun) -> tuple[str | None, str]:
    """The first failed step of ``run`` and its error; else the run's own failure message."""
    for record in instance.get_records_for_run(
        run.run_id, of_type=DagsterEventType.STEP_FAILURE, limit=1
    ).records:
        event = record.event_log_entry.dagster_event
        error = getattr(event.event_specific_data, "error", None) if event else None
        # Dagster wraps what the step raised; the innermost cause is the team's own error.
        while error is not None and error.cause is not None:
            error = error.cause
        message = error.message.strip() if error else record.event_log_entry.message
        return (event.step_key if event else None), message
    for record in instance.get_records_for_run(
        run.run_id, of_type=DagsterEventType.RUN_FAILURE, ascending=False, limit=1
    ).records:
        return None, (record.event_log_entry.message or "").strip()
    return None, "no failure event recorded"


def run_failure_alert(
    instance: DagsterInstance,
    run: DagsterRun,
    location: str,
    owners: Sequence[str],
    retry: str,
) -> Alert:
    """The message for a failed ``run`` of ``location``."""
    step, error = failure_cause(instance, run)
    if len(error) > _MAX_ERROR_CHARS:
        error = error[:_MAX_ERROR_CHARS] + " [...]"
    partitions = run_partitions(run)
    assets = [k.to_user_string() for k in planned_assets(instance, run)]
    url = _ui(f"runs/{run.run_id}")
    details = {
        "location": location,
        "job": run.job_name,
        "run_id": run.run_id,
        "partitions": partitions,
        "assets": assets,
        "step": step,
        "error": error,
        "retry": retry,
        "run_url": url,
        "owners": list(owners),
    }
    lines = [
        f"Run {run.run_id} of job {run.job_name} in location {location} failed.",
        "",
        f"Location:   {location}",
        f"Job:        {run.job_name}",
        f"Partitions: {partitions or 'none (unpartitioned)'}",
        f"Assets:     {', '.join(assets) or 'none'}",
        f"Failed step: {step or 'none (the run failed outside a step)'}",
        f"Retry:      {retry}",
        f"Run:        {url}",
        "",
        "Error:",
        error,
    ]
    subject = f"[{location}] run failed: {run.job_name}" + (
        f" [{partitions}]" if partitions else ""
    )
    return Alert("run_failure", subject, "\n".join(lines), tuple(owners), details)


def _retry_verdict(instance: DagsterInstance, run: DagsterRun) -> bool | None:
    """True if a retry of ``run`` was launched, False if none will be, None while unknown."""
    if run.tags.get(private.AUTO_RETRY_RUN_ID_TAG):
        return True
    if not instance.run_retries_enabled:
        return False
    will_retry = run.tags.get(private.WILL_RETRY_TAG)
    if will_retry is None:
        # The tag is added just after the failure is stored: not decided yet.
        return None
    return None if will_retry == "true" else False


def _attempt(run: DagsterRun) -> str:
    number = int(run.tags.get(private.RETRY_NUMBER_TAG, "0")) + 1
    return f"attempt {number}"


def _is_ours(
    repository: dg.RepositoryDefinition | None,
    run: DagsterRun,
    location: str,
    instance: DagsterInstance,
) -> bool:
    """Whether ``run`` belongs to ``location``: launched from it, or (a run executed in
    process, with no origin) a job of it whose assets are all its own."""
    origin = run.remote_job_origin
    if origin is not None:
        return origin.location_name == location
    if repository is None or not repository.has_job(run.job_name):
        return False
    graph = repository.asset_graph
    return all(graph.has(k) for k in planned_assets(instance, run))


def _owners(repository: dg.RepositoryDefinition | None, keys: Sequence[dg.AssetKey]) -> list[str]:
    if repository is None:
        return []
    graph = repository.asset_graph
    found = [o for k in keys if graph.has(k) for o in graph.get(k).owners]
    return list(dict.fromkeys(found))


def run_failure_alerts_sensor(location: str, fallback_owners: Sequence[str]) -> dg.SensorDefinition:
    """The sensor of ``location`` that reports each of its failed runs to their owners.

    ``fallback_owners`` hear about a failed run that was to materialize no asset (an op
    job such as the lake maintenance).
    """

    @dg.sensor(
        name="run_failure_alerts",
        minimum_interval_seconds=RUN_FAILURE_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Reports each failed run of this location to the owners of the assets it was to "
            "materialize (routes in ALERT_ROUTES): location, job, partitions, failed step "
            "and error, retry, link. A run the platform retries is reported only if the "
            "retry does not start."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        instance = context.instance
        state = json.loads(context.cursor) if context.cursor else None
        if state is None:
            # First tick: start from now, not from the history of every failure.
            latest = instance.fetch_run_status_changes(
                DagsterEventType.RUN_FAILURE, limit=1, ascending=False
            )
            state = {"events": latest.cursor if latest.records else None, "waiting": {}}
        # Read first: a broken file fails the tick before anything is sent, and the next
        # tick starts from the same cursor.
        routes = load_routes()
        outbox = Outbox(state.get("pending", []))
        sent = outbox.retry_pending(context.log)
        waiting: dict[str, float] = state.get("waiting", {})
        result = instance.fetch_run_status_changes(
            DagsterEventType.RUN_FAILURE, limit=100, cursor=state["events"], ascending=True
        )
        for record in result.records:
            run_id = record.event_log_entry.run_id
            run = instance.get_run_by_id(run_id)
            if run is not None and _is_ours(context.repository_def, run, location, instance):
                waiting.setdefault(run_id, record.event_log_entry.timestamp)
        reported: list[str] = []
        for run_id, failed_at in list(waiting.items()):
            run = instance.get_run_by_id(run_id)
            if run is None:
                del waiting[run_id]
                continue
            verdict = _retry_verdict(instance, run)
            overdue = time.time() - failed_at > RETRY_GRACE_SECONDS
            if verdict is True:
                del waiting[run_id]  # the retry reports for itself if it fails too
                continue
            if verdict is None and not overdue:
                continue
            retry = (
                f"none coming ({_attempt(run)})"
                if verdict is False
                else f"expected, but none started within {RETRY_GRACE_SECONDS // 60} minutes "
                f"({_attempt(run)})"
            )
            owners = _owners(context.repository_def, planned_assets(instance, run))
            alert = run_failure_alert(instance, run, location, owners or fallback_owners, retry)
            sent += len(notify(context.log, outbox, alert, routes))
            reported.append(run_id)
            del waiting[run_id]
        context.update_cursor(
            json.dumps(
                {
                    "events": result.cursor if result.records else state["events"],
                    "waiting": waiting,
                    "pending": outbox.pending,
                }
            )
        )
        return dg.SkipReason(
            f"reported {len(reported)} failed run(s) {', '.join(reported)}; {sent} message(s) "
            f"sent; {len(waiting)} waiting on a retry; {len(outbox.pending)} undelivered"
        )

    return _sensor


# --- freshness ----------------------------------------------------------------------------


def freshness_alert(key: dg.AssetKey, owners: Sequence[str], state: str, policy: str) -> Alert:
    """The message for ``key`` becoming overdue (``FAIL``) or fresh again."""
    name = key.to_user_string()
    url = _ui(f"assets/{'/'.join(key.path)}")
    if state == "FAIL":
        kind, subject = "freshness_overdue", f"[{key.path[0]}] {name} is overdue"
        what = f"{name} has not been updated within its freshness policy ({policy})."
    else:
        kind, subject = "freshness_recovered", f"[{key.path[0]}] {name} is fresh again"
        what = f"{name} is fresh again ({policy})."
    text = "\n".join([what, "", f"Asset:  {name}", f"State:  {state}", f"Asset page: {url}"])
    details = {
        "asset": name,
        "state": state,
        "policy": policy,
        "asset_url": url,
        "owners": list(owners),
    }
    return Alert(kind, subject, text, tuple(owners), details)


def _duration(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def describe_policy(policy: Any) -> str:
    """A freshness policy in words, for a message."""
    if hasattr(policy, "deadline_cron"):
        return (
            f"updated within the {_duration(policy.lower_bound_delta)} before each "
            f"'{policy.deadline_cron}' deadline, {policy.timezone}"
        )
    return f"updated at least every {_duration(policy.fail_window.to_timedelta())}"


def freshness_alerts_sensor(location: str) -> dg.SensorDefinition:
    """The sensor of ``location`` that tells owners once when a table of theirs becomes
    overdue and once when it recovers."""

    @dg.sensor(
        name="freshness_alerts",
        minimum_interval_seconds=FRESHNESS_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Tells the owners of this location's assets once when one becomes overdue "
            "against its freshness policy (evaluated by the daemon) and once when it is "
            "fresh again (routes in ALERT_ROUTES)."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        repository = context.repository_def
        if repository is None:
            return dg.SkipReason("no definitions to read freshness policies from")
        graph = repository.asset_graph
        nodes = {
            key: graph.get(key)
            for key in graph.get_all_asset_keys()
            if graph.get(key).freshness_policy is not None
        }
        state = json.loads(context.cursor) if context.cursor else {}
        notified: dict[str, str] = state.get("notified", {})
        routes = load_routes()
        outbox = Outbox(state.get("pending", []))
        sent = outbox.retry_pending(context.log)
        records = private.freshness_state_records(context.instance, list(nodes))
        changes: list[str] = []
        for key, node in nodes.items():
            record = records.get(key)
            now = record.freshness_state.value if record else "UNKNOWN"
            name = key.to_user_string()
            before = notified.get(name)
            if now == "FAIL" and before != "FAIL":
                message_state = "FAIL"
            elif now == "PASS" and before == "FAIL":
                message_state = "PASS"
            else:
                continue
            alert = freshness_alert(
                key, list(node.owners), message_state, describe_policy(node.freshness_policy)
            )
            sent += len(notify(context.log, outbox, alert, routes))
            notified[name] = message_state
            changes.append(f"{name} {message_state}")
        context.update_cursor(json.dumps({"notified": notified, "pending": outbox.pending}))
        return dg.SkipReason(
            f"{', '.join(changes) or 'no change'}; {sent} message(s) sent; "
            f"{len(outbox.pending)} undelivered"
        )

    return _sensor
