"""Sensors that keep this location's models in step with the ingestion location.

They know ingestion's assets by key only and read its materializations from the instance
(shared by every location). Partition sensors batch what arrived since their last tick
into a few contiguous ranges (a year-long backfill upstream becomes at most
``RANGES_PER_TICK`` runs, not one run per day) and skip events whose run failed a
blocking check; each request's run key names the events it answers, so the daemon
launches it exactly once even if a tick is evaluated twice.

Intervals: the daily sales sensors are on the path from a landing file to analytics, so
they tick on every pass of the sensor daemon (a tick is a few indexed event-log reads).
A burst of loads still becomes one rebuild: while the run that last planned to write the
watched key is queued or running, a tick holds what arrived (cursor unmoved) for up to
``MAX_HOLD_SECONDS``, then answers everything at once. Customer snapshots change a few
times a day and order history feeds a full-table rebuild, so those sensors tick less
often.
"""
