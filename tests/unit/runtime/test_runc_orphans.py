"""What the runc runtime reaps as the subreaper: the zombies a dead ``runc exec`` leaves (its stages,
the command it ran; one of them held a dying container's init forever), and nothing else: other
children's exit statuses belong to their waiters, and the containers' inits to the runtime's exit
watch."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from shoal.runtime.runc import reap_runc_orphans, runc_leftover
from tests.support import wait_for


def state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0]
    except OSError:
        return ""


@pytest.fixture
def zombies() -> Iterator[list[int]]:
    made: list[int] = []
    yield made
    for pid in made:  # whatever the test left unreaped
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def zombie(made: list[int], name: str) -> int:
    """A child of this process that names itself ``name`` (its comm) and exits: a zombie until reaped."""
    code = f"import ctypes; ctypes.CDLL(None).prctl(15, {name.encode()!r}, 0, 0, 0)"  # PR_SET_NAME
    pid = os.posix_spawn(sys.executable, [sys.executable, "-c", code], dict(os.environ))
    made.append(pid)
    wait_for(lambda: state(pid) == "Z", timeout=30, interval=0.01, what=f"{pid} a zombie")
    with open(f"/proc/{pid}/comm") as f:
        assert f.read().strip() == name
    return pid


def test_runcs_stages_are_reaped_and_nothing_else(zombies: list[int]) -> None:
    init = zombie(zombies, "runc:[2:INIT]")
    child = zombie(zombies, "runc:[1:CHILD]")
    kept = zombie(zombies, "runc:[2:INIT]")  # say, a container's init the runtime watches
    other = zombie(zombies, "runc")  # runc itself: its waiter reaps it

    assert reap_runc_orphans(keep={kept}) == sorted([init, child])
    assert state(init) == state(child) == ""  # gone
    assert state(kept) == state(other) == "Z"
    assert reap_runc_orphans(keep={kept}) == []  # nothing left to reap


def status(name: str, state: str, nspid: str) -> str:
    return f"Name:\t{name}\nUmask:\t0022\nState:\t{state}\nTgid:\t{nspid.split()[0]}\nNSpid:\t{nspid}\n"


def test_what_runc_leaves_behind() -> None:
    assert runc_leftover(status("true", "Z (zombie)", "24834\t27"), depth=1)  # an exec'd command, orphaned
    assert runc_leftover(status("runc:[2:INIT]", "Z (zombie)", "24834\t27"), depth=1)
    assert runc_leftover(status("runc:[1:CHILD]", "Z (zombie)", "24833"), depth=1)
    assert not runc_leftover(status("sh", "Z (zombie)", "24800\t1"), depth=1)  # a container's init
    assert not runc_leftover(status("runc", "Z (zombie)", "24801"), depth=1)  # the daemon's own child
    assert not runc_leftover(status("true", "S (sleeping)", "24834\t27"), depth=1)  # still running
    assert not runc_leftover(status("true", "Z (zombie)", "24834\t27"), depth=2)  # the daemon's own namespace
