"""A Pod's volumes on its node: the directories its containers bind-mount, made before they are
prepared and removed with the task.

* ``emptyDir``: ``<data-root>/pods/<task id>/volumes/<name>`` (the node's disk), or with ``medium:
  Memory`` a tmpfs of its own at ``<exec-root>/pods/<task id>/<name>`` (``sizeLimit`` its size);
  one directory shared by every container of the Pod.
* ``hostPath``: the node's path, checked (or made) as its ``type`` says: ``DirectoryOrCreate`` makes
  the directory (0755), ``FileOrCreate`` an empty file (0644); ``Directory``, ``File``, ``Socket``,
  ``CharDevice``, ``BlockDevice`` must be one (the kubelet's ``hostPath type check failed``).
* files (``secret``, ``configMap``, ``downwardAPI``, ``projected``; ``agent/podenv.py`` says which):
  a tmpfs of their own at ``<exec-root>/pods/<task id>/<name>``, so no secret byte touches the disk,
  each file with its mode.

``subpath`` resolves a ``volumeMount.subPath`` inside a volume (made as a directory when missing, as
the kubelet does). ``remove`` unmounts and deletes all of a task's; ``cleanup`` all that a previous run
of the daemon left (its tasks did not survive it).
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from shoal.runtime.base import RuntimeError_
from shoal.runtime.mounts import mount, unmount_all

MS_NOSUID, MS_NODEV = 2, 4


@dataclass(frozen=True)
class VolumeSource:
    """One volume as the node makes it: ``kind`` is ``dir`` (emptyDir on disk), ``memory`` (emptyDir
    ``Memory``), ``host`` (hostPath, with ``host_type``) or ``files`` (``files``: relative path →
    (bytes, mode))."""

    name: str
    kind: str
    size: int = 0
    path: str = ""
    host_type: str = ""
    files: dict[str, tuple[bytes, int]] | None = None


def _failed(name: str, what: str) -> RuntimeError_:
    return RuntimeError_(f'MountVolume.SetUp failed for volume "{name}" : {what}')


class PodVolumes:
    """The volumes of the Pods of one node (see the module's docstring)."""

    def __init__(self, data_root: Path, exec_root: Path) -> None:
        self.disk = Path(data_root) / "pods"
        self.memory = Path(exec_root) / "pods"

    def make(self, task_id: str, sources: list[VolumeSource]) -> dict[str, Path]:
        """Make the task's volumes; each one's path on the node, by name."""
        out: dict[str, Path] = {}
        for v in sources:
            if v.kind == "dir":
                p = self.disk / task_id / "volumes" / v.name
                p.mkdir(parents=True, exist_ok=True)
                p.chmod(0o777)  # as the kubelet's emptyDir: any user of the Pod may write
            elif v.kind == "host":
                p = self._host(v)
            else:
                p = self.memory / task_id / v.name
                if not p.is_mount():
                    p.mkdir(parents=True, exist_ok=True)
                    opts = "mode=0777" if v.kind == "memory" else "mode=0755"
                    if v.size:
                        opts += f",size={v.size}"
                    try:
                        mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, opts)
                    except OSError as e:
                        raise _failed(v.name, e.strerror or str(e)) from e
                if v.kind == "files":
                    self._write(p, v.files or {})
            out[v.name] = p
        return out

    @staticmethod
    def _write(root: Path, files: dict[str, tuple[bytes, int]]) -> None:
        for rel, (data, mode) in sorted(files.items()):
            f = root / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, data)
                os.fchmod(fd, mode & 0o7777)
            finally:
                os.close(fd)

    @staticmethod
    def _host(v: VolumeSource) -> Path:
        p = Path(v.path)
        if not p.is_absolute():
            raise _failed(v.name, f"hostPath {v.path} is not an absolute path")
        t = v.host_type
        if t == "DirectoryOrCreate" and not p.exists():
            p.mkdir(parents=True, mode=0o755)
        elif t == "FileOrCreate" and not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            p.touch(mode=0o644)
        checks = {"Directory": (stat.S_ISDIR, "a directory"), "DirectoryOrCreate": (stat.S_ISDIR, "a directory"),
                  "File": (stat.S_ISREG, "a file"), "FileOrCreate": (stat.S_ISREG, "a file"),
                  "Socket": (stat.S_ISSOCK, "a socket file"), "CharDevice": (stat.S_ISCHR, "a character device"),
                  "BlockDevice": (stat.S_ISBLK, "a block device")}
        if t in checks:
            test, what = checks[t]
            try:
                mode = p.stat().st_mode
            except OSError:
                mode = 0
            if not test(mode):
                raise _failed(v.name, f"hostPath type check failed: {v.path} is not {what}")
        elif t:
            raise _failed(v.name, f"invalid hostPath type {t!r}")
        elif not p.exists():
            p.mkdir(parents=True, mode=0o755)  # "" (no check): the kubelet's runtime makes a directory
        return p

    @staticmethod
    def subpath(volume: str, root: Path, sub: str) -> Path:
        """``sub`` inside a volume's ``root`` (made as a directory when missing); it may not leave it."""
        if sub.startswith("/") or ".." in Path(sub).parts:
            raise _failed(volume, f"invalid subPath {sub!r}: must be relative and may not contain '..'")
        p = root / sub
        real = os.path.realpath(p)
        if real != os.path.realpath(root) and not real.startswith(os.path.realpath(root) + "/"):
            raise _failed(volume, f"subPath {sub!r} is outside the volume")
        if not p.exists():
            p.mkdir(parents=True, mode=0o755)
        return p

    def remove(self, task_id: str) -> None:
        """Unmount and delete every volume of the task (a hostPath stays: it is the node's)."""
        for base in (self.memory / task_id, self.disk / task_id):
            if base.exists():
                unmount_all(base)
                shutil.rmtree(base, ignore_errors=True)

    def cleanup(self) -> None:
        """Unmount and delete every Pod's volumes left here (at the daemon's start: none of its tasks
        runs any more)."""
        for base in (self.memory, self.disk):
            if base.exists():
                unmount_all(base)
                shutil.rmtree(base, ignore_errors=True)
