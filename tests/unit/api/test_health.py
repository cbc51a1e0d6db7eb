"""SwarmKit's validation of a service's healthcheck."""

from __future__ import annotations

from shoal.api import health

MS = 1_000_000


def test_swarmkits_validation() -> None:
    assert health.validate({"Interval": 500_000}) == "ContainerSpec: Interval in HealthConfig cannot be less than 1ms"
    assert health.validate({"Timeout": 1}) == "ContainerSpec: Timeout in HealthConfig cannot be less than 1ms"
    assert health.validate({"StartPeriod": 2}) == \
        "ContainerSpec: StartPeriod in HealthConfig cannot be less than 1ms"
    assert health.validate({"Retries": -1}) == "ContainerSpec: Retries in HealthConfig cannot be negative"
    assert health.validate({"Interval": 0, "Timeout": MS}) == ""
    assert health.validate(None) == ""
