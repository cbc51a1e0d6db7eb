"""This node's stores behind the front doors' interface (``nodeapi.Images``, ``nodeapi.Volumes``) and
its log files behind the core's log service (``manager.logs.LocalLogs``).

``NodeImages`` wraps the image store and the registry client: it resolves references, pulls, and
refuses to remove an image the swarm's services use (``ControlAPI.images_in_use``, asked only on a
manager, as dockerd asks its cluster). ``NodeVolumes`` wraps the volume store with the volumes that
the runtime's containers mount. Part of the process wiring (``daemon.py``), not of a door.
"""

from __future__ import annotations

import fnmatch
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any

import msgspec

from shoal.agent import logs as logfiles
from shoal.api.errors import ShoalError
from shoal.api.nodeinfo import ImageInfo, ImageRemoval, RegistryCredentials, VolumeInfo
from shoal.nodeapi import Control, Filters, Progress
from shoal.protocol import LogLine
from shoal.runtime import reference
from shoal.runtime.base import ContainerTable, Runtime
from shoal.runtime.images import Image, ImageStore, normalize, split_ref
from shoal.runtime.registry import AuthConfig, RegistryClient, parse_pull_ref
from shoal.runtime.volumes import VolumeStore


class NodeImages:
    def __init__(self, store: ImageStore, registry: RegistryClient, control: Callable[[], Control | None]) -> None:
        """``control``: the swarm's control API when this node is a manager, else None."""
        self.store = store
        self.registry = registry
        self.control = control

    def _info(self, img: Image) -> ImageInfo:
        return ImageInfo(ID=img.id, Tags=img.tags, RepoDigests=self.store.repo_digests(img.id), Config=img.config,
                         Size=self.store.size(img))

    def ls(self) -> list[ImageInfo]:
        out = []
        for iid in self.store.ids():
            img = self.store.get_by_id(iid)
            if img is not None:
                out.append(self._info(img))
        return out

    def resolve(self, ref: str) -> ImageInfo | None:
        img = self.store.resolve(ref)
        return self._info(img) if img is not None else None

    def must(self, ref: str) -> ImageInfo:
        return self._info(self.store.must(ref))

    def matches(self, pattern: str, tag: str) -> bool:
        repo, _, _tag = normalize(tag).rpartition(":")
        if ":" in pattern.rsplit("/", 1)[-1]:
            return fnmatch.fnmatchcase(normalize(tag), normalize(pattern))
        return fnmatch.fnmatchcase(repo, pattern.removeprefix("docker.io/library/"))

    def tag(self, ref: str, target: str) -> None:
        self.store.tag(ref, target)

    def import_tar(self, src: IO[bytes], repo: str = "", tag: str = "", changes: list[str] | None = None,
                   message: str = "") -> str:
        if repo and ":" in repo.rsplit("/", 1)[-1] and not tag:
            repo, tag = split_ref(repo)
        return self.store.import_tar(src, repo, tag, changes or (), message)

    def load(self, src: IO[bytes]) -> list[str]:
        return self.store.load(src)

    def save(self, refs: list[str], out: IO[bytes]) -> None:
        self.store.save(refs, out)

    def remove(self, ref: str, force: bool = False) -> list[ImageRemoval]:
        in_use: set[str] = set()
        control = self.control()
        for r in control.images_in_use() if control is not None else ():
            img = self.store.resolve(r)
            if img is not None:
                in_use.add(img.id)
        return [ImageRemoval(**line) for line in self.store.remove(ref, force, in_use)]

    async def pull(self, from_image: str, tag: str, registry_auth: str, progress: Progress) -> None:
        ref = parse_pull_ref(from_image, tag)
        await self.registry.pull(ref, AuthConfig.decode(registry_auth), self.store, progress)

    async def distribution(self, name: str, registry_auth: str) -> dict[str, Any]:
        if name.startswith("sha256:"):
            raise ShoalError("no manifest found for full image ID")
        return await self.registry.inspect(reference.parse(name), AuthConfig.decode(registry_auth))

    async def login(self, credentials: RegistryCredentials) -> None:
        await self.registry.login(AuthConfig.from_json(msgspec.to_builtins(credentials)))


class NodeVolumes:
    def __init__(self, store: VolumeStore, runtime: Runtime,
                 containers: Callable[[], dict[str, list[str]]] | None = None) -> None:
        self.store = store
        self.runtime = runtime
        self.containers = containers  # the node's own containers' volumes, running or not

    def _users(self) -> dict[str, list[str]]:
        """Each volume that a container of this node mounts, with those containers (a runtime that
        keeps no container table mounts none)."""
        users = self.runtime.volumes_in_use() if isinstance(self.runtime, ContainerTable) else {}
        for name, ids in (self.containers() if self.containers is not None else {}).items():
            users.setdefault(name, []).extend(i for i in ids if i not in users[name])
        return users

    def ls(self, filters: Filters | None = None) -> list[VolumeInfo]:
        return [_volume(v) for v in self.store.ls(filters or {}, set(self._users()))]

    def create(self, name: str, driver: str = "", labels: dict[str, str] | None = None,
               options: dict[str, str] | None = None) -> VolumeInfo:
        return _volume(self.store.create(name, driver, labels, options))

    def inspect(self, name: str) -> VolumeInfo:
        return _volume(self.store.inspect(name))

    def remove(self, name: str, force: bool = False) -> None:
        self.store.remove(name, self._users().get(name, []), force)

    def prune(self, all_named: bool) -> tuple[list[str], int]:
        return self.store.prune(set(self._users()), all_named)


def _volume(v: dict[str, Any]) -> VolumeInfo:
    return VolumeInfo(Name=v["Name"], Driver=v["Driver"], Mountpoint=v["Mountpoint"], CreatedAt=v["CreatedAt"],
                      Labels=v["Labels"], Options=v["Options"])


class NodeLogFiles:
    """This node's task log files (``manager.logs.LocalLogs``)."""

    def __init__(self, log_path: Callable[[str], Path]) -> None:
        self.log_path = log_path

    def read(self, task_id: str, *, since: float = 0.0, tail: int = -1, stdout: bool = True,
             stderr: bool = True) -> tuple[list[LogLine], int]:
        return logfiles.read(self.log_path(task_id), since=since, tail=tail, stdout=stdout, stderr=stderr)

    def follow(self, task_id: str, offset: int, *, stdout: bool = True,
               stderr: bool = True) -> AsyncIterator[LogLine]:
        return logfiles.follow(self.log_path(task_id), offset, stdout=stdout, stderr=stderr)
