"""Mounting and unmounting on the node (libc's ``mount``/``umount2``), and finding what is mounted.

Shared by the runtimes that make mounts of their own on the node: runc (a task's overlayfs root, its
netns files) and both runc and docker (a task's tmpfs of secrets and configs, ``files.py``).

A task's teardown knows what it mounted: ``unmount_point`` unmounts one known mount point without
reading the mount table (which grows with the containers: reading it per task made removing N tasks
cost O(N²)), and ``remove_tree`` removes a task's directory without ever crossing into another file
system (a mount left behind is skipped, its contents untouched). ``unmount_all`` and
``mounts_under_any`` read the table, for when what is mounted is not known (after a crash).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from pathlib import Path

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 0x2
UMOUNT_NOFOLLOW = 0x8

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.syscall.restype = ctypes.c_long


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


def mounts_under_any(paths: list[Path]) -> list[str]:
    """Mount points at or below any of ``paths``, from one read of the mount table, in the order to
    unmount them: deepest first, the most recent first among equals."""
    roots = [str(p).rstrip("/") for p in paths]
    found = [m for m in mount_points() if any(m == r or m.startswith(r + "/") for r in roots)]
    order = {m: i for i, m in enumerate(found)}  # the last of a stack is the most recent
    return sorted(set(found), key=lambda m: (-m.count("/"), -order[m]))


def unmount_point(target: str | Path) -> None:
    """Unmount what is mounted at ``target``, every mount of a stack, lazily (``MNT_DETACH``) when
    busy; without reading the mount table. Nothing mounted there (EINVAL, ENOENT) is done. Symlinks
    are not followed. Other errors are left for the caller's removal to step around (``remove_tree``
    never deletes a mount's contents)."""
    for _ in range(16):
        try:
            umount(target, UMOUNT_NOFOLLOW)
        except OSError as e:
            if e.errno != errno.EBUSY:
                return
            try:
                umount(target, UMOUNT_NOFOLLOW | MNT_DETACH)
            except OSError:
                return


def remove_tree(path: Path) -> bool:
    """Remove ``path`` and what is below it, never crossing into another file system: a directory that
    is a mount point (another device than its parent's, or a mount of the same one, which ``openat2``'s
    ``RESOLVE_NO_XDEV`` tells where the kernel has it) is kept with its contents, and so are the
    directories above it. Symlinks are removed, never followed. Whether ``path`` is gone."""
    try:
        top = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        return _remove_entry(top, os.fstat(top).st_dev, path.name)
    finally:
        os.close(top)


def _remove_entry(fd: int, dev: int, name: str) -> bool:
    """Remove ``name`` in the directory open as ``fd`` (on device ``dev``), not crossing mounts."""
    try:
        st = os.lstat(name, dir_fd=fd)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        try:
            os.unlink(name, dir_fd=fd)
        except FileNotFoundError:
            pass
        except OSError:
            return False
        return True
    if st.st_dev != dev:  # a mount point: its contents are another file system's
        return False
    sub = _open_below(fd, name)
    if sub < 0:
        return False
    try:
        emptied = os.fstat(sub).st_dev == dev and all([_remove_entry(sub, dev, n) for n in _names(sub)])
    finally:
        os.close(sub)
    if not emptied:
        return False
    try:
        os.rmdir(name, dir_fd=fd)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


def _names(fd: int) -> list[str]:
    try:
        with os.scandir(fd) as it:
            return [e.name for e in it]
    except OSError:
        return []


_SYS_OPENAT2 = 437  # the same number on every architecture (a syscall added after the unified table)
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_SYMLINKS = 0x04
_openat2_missing = False


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def _open_below(fd: int, name: str) -> int:
    """The directory ``name`` in ``fd`` opened without following a symlink or crossing a mount (-1
    when it is a mount point or cannot be opened). ``openat2`` (Linux 5.6) sees mounts of the same
    file system too; without it, ``st_dev`` alone is compared (by the caller)."""
    global _openat2_missing
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    if not _openat2_missing:
        how = _OpenHow(flags, 0, RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS)
        got = _libc.syscall(_SYS_OPENAT2, fd, name.encode(), ctypes.byref(how), ctypes.sizeof(how))
        if got >= 0:
            return int(got)
        if ctypes.get_errno() not in (errno.ENOSYS, errno.EPERM):  # EPERM: a seccomp filter refused it
            return -1
        _openat2_missing = True
    try:
        return os.open(name, flags, dir_fd=fd)
    except OSError:
        return -1


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


