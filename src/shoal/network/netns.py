"""Running a function inside another network namespace, from a thread of its own; binding one.

``setns`` moves only the calling thread, so ``run_in_netns`` starts a fresh thread, enters the
namespace there, runs the function and lets the thread end: no pooled thread is ever left in a
task's namespace, and nothing forks (forking a threaded daemon, as pyroute2's ``NetNS`` does, is
not safe here). Sockets made inside stay in that namespace after the thread is gone.

``in_thread`` and ``in_netns`` do the same for the event loop: the function runs in a fresh thread of
its own, never in the loop's default pool, where a burst of tasks' network work would queue behind
itself (six pool threads, each only waiting for its fresh thread). The thread is started without
waiting for it to run (``threading.Thread.start`` waits, 10-15 ms a thread on a node starting a
thousand tasks: seconds of a held loop); it starts in the caller's network namespace, as any thread.
``create`` makes a namespace and binds it at a path from such a thread (``unshare``, no process
spawned), loopback up.

``bind`` keeps a namespace at a path (a bind mount of its nsfs file, ``/proc/<pid>/ns/net``) and
``unbind`` lets it go; ``private_dir`` makes the directory of such binds a private mount of itself
(the kernel refuses nsfs bind mounts on a shared mount).
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import ctypes
import errno
import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MS_PRIVATE = 1 << 18
MNT_DETACH = 0x2
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]


def _mount(source: str, target: str, flags: int) -> None:
    if _libc.mount(source.encode(), target.encode(), None, flags, None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {source} on {target}: {os.strerror(e)}")


def mounted(path: str | os.PathLike[str]) -> bool:
    """Whether something is mounted at ``path``."""
    p = str(path).rstrip("/")
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4].replace("\\040", " ") == p for line in f if line.strip())


def bind(source: str, target: str | os.PathLike[str]) -> None:
    """Keep the namespace at ``source`` at ``target`` (an existing file)."""
    _mount(source, str(target), MS_BIND)


def unbind(target: str | os.PathLike[str]) -> None:
    """Unmount what is bound at ``target`` (every stacked bind; lazily if busy); none is fine."""
    t = str(target)
    for _ in range(8):
        if _libc.umount2(t.encode(), 0) == 0:
            continue
        e = ctypes.get_errno()
        if e == errno.EBUSY:
            _libc.umount2(t.encode(), MNT_DETACH)
            continue
        return  # EINVAL: nothing (more) mounted there; ENOENT: no such file


def private_dir(path: str | os.PathLike[str]) -> None:
    """Make ``path`` a private mount of itself (a bind of itself first, if it is no mount point)."""
    p = str(path)
    if not mounted(p):
        _mount(p, p, MS_BIND)
    _mount("none", p, MS_PRIVATE)


def run_in_netns(netns_path: str, fn: Callable[[], T]) -> T:
    """``fn()`` run in the network namespace at ``netns_path`` (blocks until it is done)."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            enter(netns_path)
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


async def in_thread(fn: Callable[[], T]) -> T:
    """``fn()`` run in a fresh thread (not the default pool), started and awaited without holding the
    loop or a thread. Cancelled, it still waits for the thread to end."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, error: BaseException | None) -> None:
        if done.cancelled():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(value)  # type: ignore[arg-type]

    def run() -> None:
        try:
            value = fn()
        except BaseException as e:
            outcome: tuple[T | None, BaseException | None] = (None, e)
        else:
            outcome = (value, None)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (the daemon stopped)
            loop.call_soon_threadsafe(settle, *outcome)

    _thread.start_new_thread(run, ())  # (a daemon thread that nobody joins; run() catches everything)
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        # The thread goes on regardless: its end is waited for (its outcome dropped), so that what the
        # caller holds around this call (the links' lock, a sandbox) still covers its work.
        await asyncio.wait([done])
        if not done.cancelled():
            done.exception()
        raise


def enter(netns_path: str) -> None:
    """Move the calling thread (only it) into the network namespace at ``netns_path``."""
    fd = os.open(netns_path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns({netns_path}): {os.strerror(e)}")
    finally:
        os.close(fd)


async def in_netns(netns_path: str, fn: Callable[[], T]) -> T:
    """``fn()`` run in the network namespace at ``netns_path``, from a fresh thread (``in_thread``)."""

    def run() -> T:
        enter(netns_path)
        return fn()

    return await in_thread(run)


def new_here(path: str) -> str:
    """Move this (fresh) thread into a new network namespace, bound at ``path`` (an existing file);
    returns the thread's own nsfs file of it."""
    if _libc.unshare(CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"unshare(CLONE_NEWNET): {os.strerror(e)}")
    own = f"/proc/self/task/{threading.get_native_id()}/ns/net"
    _mount(own, path, MS_BIND)
    return own


def _new_bound(path: str, then: Callable[[], None]) -> None:
    """In this (fresh) thread: a new network namespace, bound at ``path`` (an existing file), then ``then()`` in it."""
    new_here(path)
    then()


async def create(path: str | os.PathLike[str], then: Callable[[], None]) -> None:
    """A new network namespace bound at ``path`` (an existing file), and ``then()`` run in it (loopback up)."""
    await in_thread(lambda: _new_bound(str(path), then))
