"""Hollow nodes never pull: a simulation's workers (the manager's own included) have no puller, and
its daemon blocks every registry not on loopback, so no outside name is ever resolved."""

from __future__ import annotations

from pathlib import Path

from shoal import sim


async def test_a_simulation_pulls_nothing(tmp_path: Path) -> None:
    s = await sim.start(3, root=tmp_path)
    try:
        assert s.daemon.worker is not None and s.daemon.worker.puller is None
        assert all(w.puller is None for w in s.workers)
        assert s.daemon.config.block_registries == ["all"]
    finally:
        await s.stop()
