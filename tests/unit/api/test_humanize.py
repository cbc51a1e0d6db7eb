"""Go's time.ParseDuration, as the CLI's flags and Dockerfile instructions' options read durations."""

from __future__ import annotations

import pytest

from shoal.api.humanize import parse_go_duration


@pytest.mark.parametrize(("text", "ns"), [
    ("5s", 5_000_000_000), ("1m30s", 90_000_000_000), ("1.5h", 5_400_000_000_000), ("300ms", 300_000_000),
    ("0", 0), ("10us", 10_000), ("1h2m3s", 3_723_000_000_000), ("-2s", -2_000_000_000), ("2µs", 2000),
])
def test_parse_go_duration(text: str, ns: int) -> None:
    assert parse_go_duration(text) == ns


@pytest.mark.parametrize("text", ["", "5", "5x", "s", "1.2.3s"])
def test_parse_go_duration_errors(text: str) -> None:
    with pytest.raises(ValueError, match="time: "):
        parse_go_duration(text)
