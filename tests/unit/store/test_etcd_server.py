"""How ``EtcdServer`` spawns its member: without fork() (so that the gRPC core's fork handlers never
run), and still dying with the thread that started it."""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from shoal.store.etcd_server import die_with_parent


def test_spawned_without_a_preexec_fn_when_setpriv_is_there() -> None:
    if not shutil.which("setpriv"):
        pytest.skip("needs util-linux's setpriv")
    cmd, preexec = die_with_parent(["etcd", "--name", "x"])
    assert preexec is None  # subprocess then spawns with vfork(), no fork()
    assert cmd[1:] == ["--pdeathsig", "KILL", "--", "etcd", "--name", "x"]


def test_the_child_dies_with_the_thread_that_started_it() -> None:
    procs: list[subprocess.Popen[bytes]] = []

    def spawn() -> None:
        cmd, preexec = die_with_parent(["sleep", "60"])
        proc = subprocess.Popen(cmd, preexec_fn=preexec, start_new_session=True)
        procs.append(proc)
        # setpriv sets the signal, then execs: wait for the exec, so the thread does not exit first.
        deadline = time.monotonic() + 10
        while Path(f"/proc/{proc.pid}/comm").read_text().strip() != "sleep" and time.monotonic() < deadline:
            time.sleep(0.001)

    t = threading.Thread(target=spawn)
    t.start()
    t.join()  # the parent thread is gone: the kernel sends the child its death signal
    try:
        assert procs[0].wait(timeout=10) == -signal.SIGKILL
    finally:
        if procs and procs[0].poll() is None:
            procs[0].kill()
            procs[0].wait()
