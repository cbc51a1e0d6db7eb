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
