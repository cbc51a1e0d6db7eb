"""``shoal sim``'s measuring: the peak of resident memory, sampled (the kernel's own mark misses
memory given back with madvise), and the scheduler-only benchmark's figures."""

from __future__ import annotations

import time

from shoal import sim


def test_peak_rss_sees_memory_that_was_given_back() -> None:
    with sim.PeakRSS(period=0.01) as before:
        pass
    with sim.PeakRSS(period=0.01) as peak:
        block = bytearray(64 << 20)  # touched: resident
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(0.1)
        del block
        peak.sample()
    assert peak.mb >= before.mb + 48


async def test_scheduler_only_bench_times_the_scheduler_alone() -> None:
    result = await sim.bench(20, 2, 100, scheduler_only=True)
    assert result["tasks"] == result["tasks_in_store"] == 200
    assert result["seconds_to_pending"] is not None and result["seconds_to_running"] is None
    assert result["decisions_per_s"] > 0 and result["peak_rss_mb"] > 0


async def test_follow_tasks_counts_tasks_wanted_and_running() -> None:
    """What ``shoal sim``'s progress line shows while it serves: nodes up as they register, tasks
    wanted and running as services come, scale down and go."""
    from shoal.api.types import (
        MAIN_CONTAINER,
        ContainerSpec,
        ReplicatedService,
        ServiceMode,
        ServiceSpec,
        TaskSpec,
        clone,
    )
    from tests.unit.helpers import until

    reached = sim.Reached()
    s = await sim.start(3, reached=reached)
    try:
        assert (reached.nodes, reached.nodes_up) == (3, 3)
        unfollow = sim.follow_tasks(s, reached)
        m = s.daemon.manager
        assert m is not None
        svc = await m.control.create_service(ServiceSpec(
            Name="web", TaskTemplate=TaskSpec(Containers=[ContainerSpec(Name=MAIN_CONTAINER, Image="hollow")]),
            Mode=ServiceMode(Replicated=ReplicatedService(Replicas=4))))
        await until(lambda: (reached.tasks, reached.done) == (4, 4), timeout=10, what="4 tasks running")
        spec = clone(svc.Spec)
        assert spec.Mode.Replicated is not None
        spec.Mode.Replicated.Replicas = 2
        await m.control.update_service(svc.ID, svc.Version.Index, spec)
        await until(lambda: (reached.tasks, reached.done) == (2, 2), timeout=10, what="2 tasks running")
        unfollow()
    finally:
        await s.stop()
