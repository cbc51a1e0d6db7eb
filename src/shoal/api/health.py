"""What SwarmKit accepts in a service's healthcheck (``ContainerSpec.Healthcheck``).

A core rule, checked when a service is created or updated (``ControlAPI``); the agent runs the
checks (``agent/health.py``) and the manager never imports the agent, so the rule lives here.
"""

from __future__ import annotations

from typing import Any

MIN_DURATION = 1_000_000  # ns: SwarmKit refuses anything shorter (but 0, "the default")


def validate(hc: dict[str, Any] | None) -> str:
    """SwarmKit's objection to a service's healthcheck, or ""."""
    for key in ("Interval", "Timeout", "StartPeriod"):
        value = int((hc or {}).get(key) or 0)
        if value != 0 and value < MIN_DURATION:
            return f"ContainerSpec: {key} in HealthConfig cannot be less than 1ms"
    if int((hc or {}).get("Retries") or 0) < 0:
        return "ContainerSpec: Retries in HealthConfig cannot be negative"
    return ""
