"""Another local user reads nothing a task holds (issue 18, closed files): the data root is 0710 as
dockerd's, and a task's ``config.json`` (its environment) and its log are 0600; ``nobody`` can read
neither. Real daemon, runc, docker CLI (root only)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ShoalDaemon, web_swarm
from tests.support import wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed"),
]

NOBODY = 65534
SECRET = "PASSWORD=hunter2-e2e"


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def nobody_reads(path: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["cat", str(path)], user=NOBODY, group=NOBODY, extra_groups=[], capture_output=True,
                          check=False)


@pytest.fixture(scope="module")
def shoal(e2e_base: Path) -> Iterator[ShoalDaemon]:
    with web_swarm(e2e_base / "private") as d:
        yield d


def test_nobody_reads_a_tasks_environment_or_log(shoal: ShoalDaemon) -> None:
    d = shoal
    d.docker("service", "create", "-d", "--name", "closed", "--stop-grace-period", "1s", "--env", SECRET,
             "web", "sh", "-c", 'echo "the password is $PASSWORD"; exec sleep 300')
    try:
        wait_for(lambda: "the password is hunter2-e2e" in d.docker("service", "logs", "--raw", "closed").stdout,
                 timeout=30, what="the task's output")
        task = d.docker("service", "ps", "-q", "--no-trunc", "closed").stdout.split()[0]
        config = d.data_root / "containers" / task / "config.json"
        log = d.data_root / "logs" / f"{task}.log"
        assert SECRET in config.read_text()  # it is the file that holds the environment
        assert b"hunter2-e2e" in log.read_bytes()
        assert mode(d.data_root) == 0o710
        assert mode(d.data_root / "containers") == 0o710
        assert mode(config.parent) == 0o710
        assert mode(d.data_root / "logs") == 0o700
        assert mode(config) == 0o600 and mode(log) == 0o600
        assert mode(d.exec_root / "runc") == 0o700  # runc's state.json holds the spec too
        for p in (config, log):
            r = nobody_reads(p)
            assert r.returncode != 0 and b"hunter2" not in r.stdout, p
            assert b"Permission denied" in r.stderr
        assert nobody_reads(d.data_root / "swarm" / "node.key.enc").returncode != 0
        ls = subprocess.run(["ls", str(d.data_root)], user=NOBODY, group=NOBODY, extra_groups=[],
                            capture_output=True, check=False)
        assert ls.returncode != 0 and b"Permission denied" in ls.stderr  # 0710: not even a listing
    finally:
        d.docker("service", "rm", "closed")
