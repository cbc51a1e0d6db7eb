"""Writing a task's secret and config files (``TaskFile``) under a directory of the runtime's.

The directory must be memory-backed (the runc and docker runtimes mount a tmpfs per task with
``mount``, whose read-only binds into the container they make; the process runtime uses the exec
root, ``/run/shoal`` by default, a tmpfs): a secret's bytes are never written to the node's disk.
Each file is created anew (never through an existing file or link), then given its owner (when the
daemon may change owners) and its mode; directories on the way are 0755, as Docker's ``/run/secrets``.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shoal.runtime.base import RuntimeError_, TaskFile
from shoal.runtime.mounts import MS_NODEV, MS_NOEXEC, MS_NOSUID, remove_tree, unmount_point
from shoal.runtime.mounts import mount as mount_fs

SECRETS_DIR = "/run/secrets"  # where a secret's relative target goes in the container, as Docker's


def write(path: Path, f: TaskFile) -> None:
    """Write ``f``'s bytes at ``path`` with its owner and mode; raises ``RuntimeError_``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, f.data)
            if os.geteuid() == 0:
                os.fchown(fd, f.uid, f.gid)
            os.fchmod(fd, f.mode)
        finally:
            os.close(fd)
    except OSError as e:
        raise RuntimeError_(f"{f.kind} {f.name}: writing {f.target} failed: {e.strerror}") from e


def relative(target: str) -> str:
    """A container path (absolute, normalized) as a path under a directory that stands for ``/``."""
    return target.lstrip("/")


@dataclass(frozen=True)
class FileBind:
    """A read-only bind into the container: ``source`` on the node's tmpfs, at ``target``."""

    source: Path
    target: str


def mount(root: Path, files: Sequence[TaskFile]) -> list[FileBind]:
    """Mount a tmpfs at ``root`` (nosuid, nodev, noexec) and write the task's files in it; the binds
    that put them in the container. Every secret goes under ``/run/secrets`` (one bind of
    ``secrets/``) unless its target is elsewhere, as Docker's; every other target is a bind of one
    file (``files/<n>``)."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        mount_fs("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700")
    except OSError as e:
        raise RuntimeError_(f"mounting a tmpfs for the task's secrets and configs failed: {e.strerror}") from e
    binds: list[FileBind] = []
    tree = [f for f in files if f.target.startswith(SECRETS_DIR + "/")]
    if tree or any(f.kind == "secret" for f in files):
        for f in tree:
            write(root / "secrets" / posixpath.relpath(f.target, SECRETS_DIR), f)
        (root / "secrets").mkdir(mode=0o755, exist_ok=True)
        binds.append(FileBind(root / "secrets", SECRETS_DIR))
    for i, f in enumerate(f for f in files if f not in tree):
        write(root / "files" / str(i), f)
        binds.append(FileBind(root / "files" / str(i), f.target))
    return binds


def unmount(root: Path) -> None:
    """Unmount the task's tmpfs (its files go with it) and remove its mount point: the known mount
    point only, without reading the mount table; a mount left there (it could not be unmounted) is
    kept with its contents (``remove_tree``)."""
    unmount_point(root)
    remove_tree(root)
