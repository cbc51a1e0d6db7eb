"""Swarm's defaults for what a service leaves unset (swarmkit ``api/defaults``), and the nanosecond.

The manager fills them in (``ControlAPI``, the orchestrators) and the agent applies them (the stop
grace period when it stops a container): both read them here, from the core, never from each other.
"""

from __future__ import annotations

from shoal.api.types import RestartPolicy, UpdateConfig

SECOND = 1_000_000_000  # durations in the API are nanoseconds

# Restart any, 5 s delay; update parallelism 1, no delay, pause on failure, monitor 5 s, stop-first;
# task history 5; stop grace period 10 s.
DEFAULT_RESTART = RestartPolicy(Condition="any", Delay=5 * SECOND, MaxAttempts=0, Window=0)
DEFAULT_UPDATE = UpdateConfig(
    Parallelism=1, Delay=0, FailureAction="pause", Monitor=5 * SECOND, MaxFailureRatio=0.0, Order="stop-first"
)
DEFAULT_ROLLBACK = UpdateConfig(
    Parallelism=1, Delay=0, FailureAction="pause", Monitor=5 * SECOND, MaxFailureRatio=0.0, Order="stop-first"
)
DEFAULT_TASK_HISTORY = 5
DEFAULT_STOP_GRACE = 10 * SECOND
