"""The daemon's private files and directories, kept as dockerd keeps its own.

A file that holds what a task holds (a runc bundle's ``config.json``: the task's environment; a
task's log) or key material is created 0600 from its first byte (``os.open`` with the mode, never a
wider file narrowed afterwards), and the directories that hold them are the owner's only (0700) or
its group's to traverse (0710, as dockerd's ``/var/lib/docker`` and ``containers/``). Another local
user then reads none of them.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
ROOT_MODE = 0o710  # the data root and the containers' directory, as dockerd's
DIR_MODE = 0o700  # a directory of logs or keys


def make_dir(path: Path, mode: int = DIR_MODE) -> Path:
    """``path`` and its parents, with ``path`` itself given ``mode`` (also when it was already there,
    made wider by an older daemon)."""
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    if path.stat().st_mode & 0o7777 != mode:
        os.chmod(path, mode)
    return path


def open_append(path: Path) -> int:
    """A file descriptor appending to ``path``, which is created 0600 if it is not there."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)


def write_file(path: Path, data: bytes | str) -> None:
    """Replace ``path`` with ``data`` at once (through a file beside it), 0600 from the start."""
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    try:
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    tmp.replace(path)
