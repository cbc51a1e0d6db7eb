"""``shoal daemon``'s process set-up."""

from __future__ import annotations

import pytest

from shoal.cli import daemon_cmd


def test_malloc_arenas_are_capped_unless_the_environment_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert daemon_cmd.few_malloc_arenas() is False  # the operator's setting stands
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert daemon_cmd.few_malloc_arenas(8) is True  # glibc took it (8: the process keeps its default headroom)
