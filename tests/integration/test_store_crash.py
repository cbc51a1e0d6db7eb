"""kill -9 of a process in the middle of a burst of concurrent commits to its SQLite store loses no
acknowledged write: every revision the writer was told was committed is there when the store is
opened again, and nothing half-written (each revision's keys all there or none)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from shoal.store.sqlite import SQLiteBackend

WRITER = """
import asyncio, sys
from shoal.store.backend import Put
from shoal.store.sqlite import SQLiteBackend

async def main() -> None:
    b = SQLiteBackend(sys.argv[1])
    async def one(w: int) -> None:
        i = 0
        while True:
            key = f"/k/{sys.argv[2]}/{w}/{i}/"
            rev, _ = await b.txn([], [Put(key + "a", b"x" * 512), Put(key + "b", b"y")])
            print(rev, w, i, flush=True)
            i += 1
    await asyncio.gather(*(one(w) for w in range(16)))

asyncio.run(main())
"""


def test_kill_9_during_a_burst_of_commits_loses_no_acknowledged_write(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    acked: list[tuple[int, str]] = []  # (revision, key prefix)
    for rnd in range(3):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(rnd)], stdout=subprocess.PIPE, env=env,
                                text=True)
        try:
            assert proc.stdout is not None
            for n, line in enumerate(proc.stdout):
                acked.append(_ack(line, rnd))
                if n == 300:
                    break
            proc.send_signal(signal.SIGKILL)
            # told before it died (a line the kill cut short was not a whole acknowledgement)
            acked.extend(_ack(line, rnd) for line in proc.stdout if line.endswith("\n") and len(line.split()) == 3)
        finally:
            proc.kill()
            proc.wait()
        held = asyncio.run(_held(db))
        for rev, prefix in acked:
            assert held.get(prefix + "a") == rev, f"acknowledged revision {rev} ({prefix}) lost"
        per_revision: dict[int, int] = {}
        for rev in held.values():
            per_revision[rev] = per_revision.get(rev, 0) + 1
        assert set(per_revision.values()) == {2}  # no revision half there


def _ack(line: str, rnd: int) -> tuple[int, str]:
    rev, w, i = line.split()
    return int(rev), f"/k/{rnd}/{w}/{i}/"


async def _held(db: Path) -> dict[str, int]:
    b = SQLiteBackend(db)
    try:
        kvs, _ = await b.range("/k/")
        return {kv.key: kv.mod_revision for kv in kvs}
    finally:
        await b.close()
