"""Running a function inside another network namespace, from a thread of its own.

``setns`` moves only the calling thread, so ``run_in_netns`` starts a fresh thread, enters the
namespace there, runs the function and lets the thread end: no pooled thread is ever left in a
task's namespace, and nothing forks (forking a threaded daemon, as pyroute2's ``NetNS`` does, is
not safe here). Sockets made inside stay in that namespace after the thread is gone.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def run_in_netns(netns_path: str, fn: Callable[[], T]) -> T:
    """``fn()`` run in the network namespace at ``netns_path`` (blocks until it is done)."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            fd = os.open(netns_path, os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, f"setns({netns_path}): {os.strerror(e)}")
            finally:
                os.close(fd)
            result.append(fn())
        except BaseException as e:
            error.append(e)

    t = threading.Thread(target=run, name="in-netns")
    t.start()
    t.join()
    if error:
        raise error[0]
    return result[0]


# ---------------------------------------------------------------- forwarding between interfaces

_FORWARD = "/proc/sys/net/ipv4/ip_forward"
_forwarding_for: set[str] = set()
_forwarding_before: str | None = None
_forwarding_lock = threading.Lock()


def need_forwarding(owner: str, needed: bool) -> None:
    """This namespace forwards (``net.ipv4.ip_forward``) while some owner needs it (the routing mesh,
    tasks' way out). The value it had before the first owner is put back after the last one: a node
    that runs no such task is left as it was found."""
    global _forwarding_before
    with _forwarding_lock:
        if needed:
            if not _forwarding_for:
                with open(_FORWARD) as f:
                    _forwarding_before = f.read().strip()
            _forwarding_for.add(owner)
            with open(_FORWARD, "w") as f:
                f.write("1\n")
        elif owner in _forwarding_for:
            _forwarding_for.discard(owner)
            if not _forwarding_for and _forwarding_before is not None:
                with open(_FORWARD, "w") as f:
                    f.write(_forwarding_before + "\n")
                _forwarding_before = None
