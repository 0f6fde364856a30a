"""How often the platform's latency-critical sensors are evaluated.

The daemon evaluates sensors in passes that start every ``DAEMON_LOOP_SECONDS`` (a fixed
period of Dagster's sensor daemon), and evaluates a sensor on a pass only if its minimum
interval has elapsed since its previous tick. A minimum interval equal to the period
loses passes: a tick's start time drifts by milliseconds from pass to pass, so 4.999 s
elapsed means "skip", and a 5 s sensor ticked every 5 or 10 s at random (seen in the tick
history of the latency benchmark). Sensors on the path from a landing file to analytics
ask for a little less than the period, which the daemon rounds up to every pass.
"""

from __future__ import annotations

DAEMON_LOOP_SECONDS = 5
EVERY_DAEMON_PASS = DAEMON_LOOP_SECONDS - 1
