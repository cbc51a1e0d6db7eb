"""Autolock with the real docker CLI: a restarted manager is locked until `docker swarm unlock`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import make_rootfs, start_daemon, stop_daemon
from tests.support import free_port, rows, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RUNTIME = "runc" if shutil.which("runc") else "process"
LOCKED = 'Swarm is encrypted and needs to be unlocked before it can be used. Please use "docker swarm unlock"'


def test_autolock_locks_a_restarted_manager(e2e_base: Path) -> None:
    base = e2e_base / "autolock"
    d = start_daemon(base, RUNTIME)
    try:
        tar = subprocess.run(["tar", "-C", str(make_rootfs(base / "rootfs")), "-c", "."], capture_output=True,
                             check=True).stdout
        d.docker("import", "-c", 'CMD ["sh","-c","while true; do echo tick; sleep 1; done"]', "-", "ticker",
                 input=tar)
        out = d.docker("swarm", "init", "--autolock", "--advertise-addr", "127.0.0.1",
                       "--listen-addr", f"127.0.0.1:{free_port()}").stdout
        m = re.search(r"(SWMKEY-1-\S+)", out)
        assert m, out
        key = m.group(1)
        assert d.docker("swarm", "unlock-key", "-q").stdout.strip() == key
        d.docker("service", "create", "-d", "--name", "locked", "--replicas", "2", "--stop-grace-period", "1s",
                 "ticker")
        wait_for(lambda: "2/2" in d.docker("service", "ls").stdout, what="2/2")
        state_db = d.data_root / "swarm" / "state.db"
        assert b"ticker" not in state_db.read_bytes()  # the store is encrypted at rest

        token = d.docker("swarm", "join-token", "-q", "worker").stdout.strip()
        stop_daemon(d)
        # Nothing secret is readable at rest: no private key (the node's, the CA's), no join token.
        for f in (p for p in d.data_root.rglob("*") if p.is_file()):
            data = f.read_bytes()
            assert b"PRIVATE KEY" not in data, f
            assert token.encode() not in data, f
        d.proc = start_daemon(base, RUNTIME).proc
        assert LOCKED in d.docker("node", "ls", check=False).stderr
        assert d.docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip() == "locked"
        wrong = d.docker("swarm", "unlock", input=b"SWMKEY-1-" + b"A" * 43 + b"\n", check=False)
        assert "swarm could not be unlocked: invalid key provided" in wrong.stderr
        d.docker("swarm", "unlock", input=key.encode() + b"\n")
        assert {r[1] for r in rows(d.docker("service", "ls").stdout)} == {"locked"}
        wait_for(lambda: "2/2" in d.docker("service", "ls").stdout, timeout=30, what="2/2 after unlock")

        assert "Swarm updated." in d.docker("swarm", "update", "--autolock=false").stdout
        stop_daemon(d)
        d.proc = start_daemon(base, RUNTIME).proc
        assert d.docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip() == "active"
        d.docker("service", "rm", "locked")
    finally:
        d.docker("swarm", "leave", "--force", check=False)
        stop_daemon(d)
