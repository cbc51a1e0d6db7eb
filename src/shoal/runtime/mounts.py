"""Mounting and unmounting on the node (libc's ``mount``/``umount2``), and finding what is mounted.

Shared by the runtimes that make mounts of their own on the node: runc (a task's overlayfs root, its
netns files) and both runc and docker (a task's tmpfs of secrets and configs, ``files.py``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from pathlib import Path

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 0x2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def mount(source: str, target: str | Path, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    rc = _libc.mount(source.encode(), str(target).encode(), fstype.encode() if fstype else None, flags,
                     data.encode() if data else None)
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {fstype or source} on {target}: {os.strerror(e)}")


def umount(target: str | Path, flags: int = 0) -> None:
    if _libc.umount2(str(target).encode(), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"umount {target}: {os.strerror(e)}")


def _unescape(s: str) -> str:
    """``/proc/self/mountinfo`` writes space, tab, newline and backslash as octal escapes."""
    return s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [_unescape(line.split()[4]) for line in f if line.strip()]


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path``, deepest (and most recent) first."""
    p = str(path).rstrip("/")
    found = [m for m in mount_points() if m == p or m.startswith(p + "/")]
    return list(reversed(found))


def unmount_all(path: Path) -> None:
    """Unmount everything mounted at or below ``path`` (lazily if busy)."""
    for _ in range(16):
        points = mounts_under(path)
        if not points:
            return
        for m in points:
            try:
                umount(m)
            except OSError as e:
                if e.errno in (errno.EINVAL, errno.ENOENT):
                    continue
                with contextlib.suppress(OSError):
                    umount(m, MNT_DETACH)


