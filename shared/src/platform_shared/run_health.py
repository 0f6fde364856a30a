"""Fail runs whose run worker died with its code server, so they are retried.

Runs start through the code server of their location (the default run launcher), whose
run workers are its child processes. A code server notices a worker of its own that
exits without a verdict and fails the run, but when the code server itself dies (its
container is killed, ``kill -9`` of its process group) nobody is left to notice: the
default run launcher offers the daemon no run worker health check, so the run would stay
``STARTED`` until ``max_runtime_seconds``.

Each location therefore runs :func:`orphaned_runs_sensor`. It is evaluated inside the
location's code server, i.e. on the host or in the container where that location's run
workers live, and looks up each of the location's ``STARTED`` runs by the pid its worker
reported ("Started process for run (pid: N)"). A worker that is gone, or whose pid now
belongs to a process started at another time (pid reuse, a new container), is dead: the
run is failed with an engine event saying why, and ``run_retries`` relaunches it. A
worker that outlived a graceful restart of its code server is alive and left alone.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultRunLauncher,
    RunsFilter,
)

# A worker reports its pid right after it starts; its process cannot be younger than the
# report, and a much older process with that pid is some other process.
_START_SLACK_SECONDS = 2.0
_MAX_REPORT_DELAY_SECONDS = 600.0
INTERVAL_SECONDS = 15


@dataclass(frozen=True)
class WorkerReport:
    """The pid a run worker reported and when."""

    run_id: str
    pid: int
    reported_at: float


def worker_report(instance: DagsterInstance, run_id: str) -> WorkerReport | None:
    """The last "Started process for run" engine event of ``run_id``, if any."""
    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ENGINE_EVENT, ascending=False, limit=50
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.engine_event_data if event else None
        pid = data.metadata.get("pid") if data else None
        if pid is not None and str(pid.value).isdigit():
            return WorkerReport(run_id, int(str(pid.value)), record.event_log_entry.timestamp)
    return None


def process_start_time(pid: int) -> float | None:
    """Wall-clock start time of ``pid`` on this host, or None when there is no such
    process (or it is a zombie, i.e. already dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError):
        return None
    # Fields after the command name (which may hold spaces) start at field 3.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    started_ticks = int(fields[19])
    boot = time.time() - uptime
    return boot + started_ticks / os.sysconf("SC_CLK_TCK")


def worker_alive(report: WorkerReport) -> bool:
    started = process_start_time(report.pid)
    if started is None:
        return False
    return (
        report.reported_at - _MAX_REPORT_DELAY_SECONDS
        <= started
        <= report.reported_at + _START_SLACK_SECONDS
    )


def fail_orphaned_runs(instance: DagsterInstance, location: str) -> list[str]:
    """Fail the ``STARTED`` runs of ``location`` whose worker is dead; their ids.

    Only under the default run launcher: with another launcher the workers run outside
    the code server's host and its pids say nothing about them.
    """
    if type(instance.run_launcher) is not DefaultRunLauncher:
        return []
    failed: list[str] = []
    for run in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED])):
        origin = run.remote_job_origin
        if origin is None or origin.location_name != location:
            continue
        report = worker_report(instance, run.run_id)
        if report is None or worker_alive(report):
            continue  # not started yet (start_timeout_seconds covers it), or alive
        current = instance.get_run_by_id(run.run_id)
        if current is None or current.status != DagsterRunStatus.STARTED:
            continue  # finished while we looked
        instance.report_run_failed(
            current,
            f"Run worker (pid {report.pid}) of location {location} is gone without a "
            "verdict (its code server or container died): failing the run so it can be "
            "retried.",
        )
        failed.append(run.run_id)
    return failed


def orphaned_runs_sensor(location: str) -> dg.SensorDefinition:
    """The sensor of ``location`` that fails its runs left without a worker."""

    @dg.sensor(
        name="orphaned_runs_sensor",
        minimum_interval_seconds=INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Fails this location's STARTED runs whose run worker process is gone (code "
            "server or container killed), so run retries relaunch them."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        failed = fail_orphaned_runs(context.instance, location)
        if failed:
            context.log.warning(f"Failed orphaned runs: {', '.join(failed)}")
        return dg.SkipReason(
            f"failed orphaned runs {', '.join(failed)}" if failed else "no orphaned run"
        )

    return _sensor
