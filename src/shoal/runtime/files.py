"""Writing a task's secret and config files (``TaskFile``) under a directory of the runtime's.

The directory must be memory-backed (the runc runtime mounts a tmpfs per task; the process runtime
uses the exec root, ``/run/shoal`` by default, a tmpfs): a secret's bytes are never written to the
node's disk. Each file is created anew (never through an existing file or link), then given its
owner (when the daemon may change owners) and its mode; directories on the way are 0755, as
Docker's ``/run/secrets``.
"""

from __future__ import annotations

import os
from pathlib import Path

from shoal.runtime.base import RuntimeError_, TaskFile

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
