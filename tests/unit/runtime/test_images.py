"""``docker import --change``: Dockerfile instructions applied to an image's config, HEALTHCHECK's
options and forms as the Dockerfile has them, and its errors in BuildKit's words."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.api.errors import InvalidArgument
from shoal.runtime.images import apply_change

MS, S = 1_000_000, 1_000_000_000


def changed(*changes: str) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    for c in changes:
        apply_change(cfg, c)
    return cfg


def test_healthcheck_options_and_both_forms() -> None:
    hc = changed('HEALTHCHECK --interval=5s --timeout=2s --start-period=1m --start-interval=500ms --retries=4 '
                 'CMD ["nc", "-z", "127.0.0.1", "80"]')["Healthcheck"]
    assert hc == {"Test": ["CMD", "nc", "-z", "127.0.0.1", "80"], "Interval": 5 * S, "Timeout": 2 * S,
                  "StartPeriod": 60 * S, "StartInterval": 500 * MS, "Retries": 4}
    assert changed("HEALTHCHECK CMD nc -z 127.0.0.1 80 || exit 1")["Healthcheck"] == {
        "Test": ["CMD-SHELL", "nc -z 127.0.0.1 80 || exit 1"]}
    assert changed("HEALTHCHECK --interval=0s CMD true")["Healthcheck"] == {"Test": ["CMD-SHELL", "true"],
                                                                             "Interval": 0}
    assert changed("HEALTHCHECK NONE")["Healthcheck"] == {"Test": ["NONE"]}


@pytest.mark.parametrize(("change", "error"), [
    ("HEALTHCHECK --every=5s CMD true", "Unknown flag: every"),
    ("HEALTHCHECK --interval=5 CMD true", 'time: missing unit in duration "5"'),
    ("HEALTHCHECK --interval=10us CMD true", 'Interval "interval" cannot be less than 1ms'),
    ("HEALTHCHECK --retries=-1 CMD true", "--retries cannot be negative (-1)"),
    ("HEALTHCHECK --retries=x CMD true", 'strconv.ParseInt: parsing "x": invalid syntax'),
    ("HEALTHCHECK RUN true", 'Unknown type "RUN" in HEALTHCHECK (try CMD)'),
    ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
    ("HEALTHCHECK --interval=5s NONE", "HEALTHCHECK NONE takes no arguments"),
])
def test_healthcheck_errors(change: str, error: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        changed(change)
    assert str(e.value) == error


def test_other_instructions() -> None:
    cfg = changed('CMD ["sh", "-c", "echo hi"]', "ENV A=1 B=two", "EXPOSE 80 53/udp", "WORKDIR /srv",
                  "STOPSIGNAL SIGQUIT", 'LABEL team=core "tier=front end"')
    assert cfg["Cmd"] == ["sh", "-c", "echo hi"] and cfg["Env"] == ["A=1", "B=two"]
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}} and cfg["WorkingDir"] == "/srv"
    assert cfg["StopSignal"] == "SIGQUIT" and cfg["Labels"] == {"team": "core", "tier": "front end"}
    with pytest.raises(InvalidArgument, match="RUN is not a valid change command"):
        changed("RUN true")
