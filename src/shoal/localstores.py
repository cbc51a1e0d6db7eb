"""This node's stores behind the front doors' interface (``nodeapi.Images``, ``nodeapi.Volumes``) and
its log files behind the core's log service (``manager.logs.LocalLogs``).

``NodeImages`` wraps the image store and the registry client: it resolves references, pulls, and
refuses to remove an image the swarm's services use (``ControlAPI.images_in_use``, asked only on a
manager, as dockerd asks its cluster). ``NodeVolumes`` wraps the volume store with the volumes that
the runtime's containers mount. Both emit dockerd's events into the node's event log (images:
``pull``, ``tag``, ``untag``, ``delete``, ``load``, ``import``, ``save``; volumes: ``create``,
``destroy``; and ``prune`` with what it reclaimed), with the actor and attributes dockerd gives
them. Part of the process wiring (``daemon.py``), not of a door.
"""

from __future__ import annotations

import contextlib
import fnmatch
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any

import msgspec

from shoal.agent import logs as logfiles
from shoal.api.errors import ShoalError
from shoal.api.events import EventLog
from shoal.api.nodeinfo import ImageInfo, ImageRemoval, RegistryCredentials, VolumeInfo
from shoal.nodeapi import Control, Filters, Progress
from shoal.protocol import LogLine
from shoal.runtime import reference
from shoal.runtime.base import ContainerTable, Runtime
from shoal.runtime.images import Image, ImageStore, normalize, split_ref
from shoal.runtime.registry import AuthConfig, RegistryClient, parse_pull_ref
from shoal.runtime.volumes import VolumeStore


class NodeImages:
    def __init__(self, store: ImageStore, registry: RegistryClient, control: Callable[[], Control | None],
                 events: EventLog | None = None) -> None:
        """``control``: the swarm's control API when this node is a manager, else None; ``events``:
        the node's event log (None: emit nothing)."""
        self.store = store
        self.registry = registry
        self.control = control
        self.events = events

    def _emit(self, action: str, actor: str, name: str, img: Image | None = None) -> None:
        """dockerd's ``LogImageEvent``: the image's labels (while it exists) and ``name``."""
        if self.events is None:
            return
        if img is None:
            img = self.store.resolve(actor)
        attrs = dict((img.container_config.get("Labels") or {}) if img is not None else {})
        attrs["name"] = name
        self.events.emit("image", action, actor, attrs)

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
        img = self.store.must(ref)
        self.store.tag(ref, target)
        self._emit("tag", img.id, reference.parse(target).familiar(), img)

    def import_tar(self, src: IO[bytes], repo: str = "", tag: str = "", changes: list[str] | None = None,
                   message: str = "") -> str:
        if repo and ":" in repo.rsplit("/", 1)[-1] and not tag:
            repo, tag = split_ref(repo)
        iid = self.store.import_tar(src, repo, tag, changes or (), message)
        if repo:  # dockerd tags first, then says it imported
            self._emit("tag", iid, reference.parse(f"{repo}:{tag or 'latest'}").familiar())
        self._emit("import", iid, iid)
        return iid

    def load(self, src: IO[bytes], progress: Callable[[dict[str, Any]], None] | None = None) -> list[str]:
        lines = self.store.load(src, progress)
        seen: list[str] = []
        for line in lines:
            ref = line.removeprefix("Loaded image ID: ").removeprefix("Loaded image: ")
            img = self.store.resolve(ref)
            if img is not None and img.id not in seen:
                seen.append(img.id)
                self._emit("load", img.id, img.id, img)
        return lines

    def save(self, refs: list[str], out: IO[bytes]) -> None:
        self.store.save(refs, out)
        seen: list[str] = []
        for r in refs:
            img = self.store.resolve(r)
            if img is not None and img.id not in seen:
                seen.append(img.id)
                self._emit("save", img.id, img.id, img)

    def _in_use(self) -> set[str]:
        """The IDs of the images the swarm's services run (known on a manager only)."""
        in_use: set[str] = set()
        control = self.control()
        for r in control.images_in_use() if control is not None else ():
            img = self.store.resolve(r)
            if img is not None:
                in_use.add(img.id)
        return in_use

    def remove(self, ref: str, force: bool = False) -> list[ImageRemoval]:
        return self._remove(ref, force, self._in_use())

    def _remove(self, ref: str, force: bool, in_use: set[str]) -> list[ImageRemoval]:
        img = self.store.must(ref)
        report = [ImageRemoval(**line) for line in self.store.remove(ref, force, in_use)]
        for line in report:
            if line.Untagged and "@" not in line.Untagged:  # dockerd says nothing of the digests that go
                self._emit("untag", img.id, img.id, img)
            elif line.Deleted == img.id:
                self._emit("delete", img.id, img.id, None if self.store.get_by_id(img.id) is None else img)
        return report

    def layer_sizes(self) -> dict[str, int]:
        sizes: dict[str, int] = {}
        for iid in self.store.ids():
            img = self.store.get_by_id(iid)
            for d in img.diff_ids if img is not None else ():
                if d not in sizes:
                    with contextlib.suppress(FileNotFoundError):
                        sizes[d] = (self.store.layers / (d.removeprefix("sha256:") + ".tar")).stat().st_size
        return sizes

    def prune(self, dangling_only: bool = True, keep: Callable[[ImageInfo], bool] | None = None,
              in_use: set[str] | None = None) -> tuple[list[ImageRemoval], int]:
        """dockerd's image prune: the images without a tag (every image unless ``dangling_only``),
        except those ``keep`` keeps and those in use (``in_use``: the IDs this node's containers run;
        the swarm's services' images are refused as by ``remove``). Returns the removal report and
        the bytes of the layers deleted."""
        sizes = self.layer_sizes()
        refused = self._in_use() | set(in_use or ())
        report: list[ImageRemoval] = []
        for info in self.ls():
            if (dangling_only and info.Tags) or info.ID in refused or (keep is not None and keep(info)):
                continue
            for ref in info.Tags or [info.ID]:
                try:
                    report.extend(self._remove(ref, False, refused))
                except ShoalError:
                    continue  # dockerd skips an image it cannot remove
        freed = sum(sizes.get(line.Deleted, 0) for line in report if line.Deleted)
        if self.events is not None:
            self.events.emit("image", "prune", "", {"reclaimed": str(freed)})
        return report, freed

    async def pull(self, from_image: str, tag: str, registry_auth: str, progress: Progress) -> None:
        ref = parse_pull_ref(from_image, tag)
        await self.registry.pull(ref, AuthConfig.decode(registry_auth), self.store, progress)
        self.pulled(ref.familiar())

    def pulled(self, ref: str) -> None:
        """dockerd's event of a pull (the client's, or a task's on this node): the reference as
        Docker prints it, named by its repository."""
        r = reference.parse(ref)
        self._emit("pull", r.familiar(), r.familiar_name, self.store.resolve(r.familiar()))

    async def distribution(self, name: str, registry_auth: str) -> dict[str, Any]:
        if name.startswith("sha256:"):
            raise ShoalError("no manifest found for full image ID")
        return await self.registry.inspect(reference.parse(name), AuthConfig.decode(registry_auth))

    async def login(self, credentials: RegistryCredentials) -> None:
        await self.registry.login(AuthConfig.from_json(msgspec.to_builtins(credentials)))


class NodeVolumes:
    def __init__(self, store: VolumeStore, runtime: Runtime, events: EventLog | None = None,
                 containers: Callable[[], dict[str, list[str]]] | None = None) -> None:
        self.store = store
        self.runtime = runtime
        self.events = events
        self.containers = containers  # the node's own containers' volumes, running or not

    def _emit(self, action: str, name: str) -> None:
        if self.events is not None:
            self.events.emit("volume", action, name, {"driver": "local"})

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
        v = _volume(self.store.create(name, driver, labels, options))
        self._emit("create", v.Name)  # also when it was there already, as dockerd
        return v

    def inspect(self, name: str) -> VolumeInfo:
        return _volume(self.store.inspect(name))

    def remove(self, name: str, force: bool = False) -> None:
        there = name in self.store.names()
        self.store.remove(name, self._users().get(name, []), force)
        if there:
            self._emit("destroy", name)

    def prune(self, all_named: bool) -> tuple[list[str], int]:
        deleted, freed = self.store.prune(set(self._users()), all_named)
        if self.events is not None:  # dockerd 20.10 says only this: no destroy for each volume pruned
            self.events.emit("volume", "prune", "", {"reclaimed": str(freed)})
        return deleted, freed

    def usage(self) -> dict[str, tuple[int, int]]:
        users = self._users()
        out: dict[str, tuple[int, int]] = {}
        for name in self.store.names():
            size = 0
            for p in self.store.data_path(name).rglob("*"):
                with contextlib.suppress(OSError):
                    if p.is_file() and not p.is_symlink():
                        size += p.stat().st_size
            out[name] = (size, len(users.get(name, [])))
        return out


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
