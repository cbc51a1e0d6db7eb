"""The node's named local volumes: Docker's ``local`` driver layout, and ``docker volume`` on the node.

A volume ``NAME`` is the directory ``<data-root>/volumes/NAME/_data``, made the first time a task
mounts it (``--mount type=volume,src=NAME,…``, with its ``volume-label``s) or by ``docker volume
create``; it outlives the tasks that use it until ``docker volume rm``. Its creation time and
labels are kept beside it in ``shoal.json``. Names follow the local driver's rule (and can never
reach outside the volumes directory); a volume that a container of this node mounts cannot be
removed, in Docker's words. Anonymous volumes (no source) belong to their task and go with it.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shoal.api.errors import Conflict, InvalidArgument, NotFound
from shoal.api.labels import labels_match
from shoal.runtime import private

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
META = "shoal.json"


def check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise InvalidArgument(f'create {name}: "{name}" includes invalid characters for a local volume name, only '
                              '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
                              "use absolute path")


class VolumeStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def data_path(self, name: str) -> Path:
        return self.root / name / "_data"

    def ensure(self, name: str, labels: dict[str, str] | None = None,
               options: dict[str, str] | None = None) -> Path:
        """The volume's data directory, made (with its labels) if it does not exist yet."""
        check_name(name)
        data = self.data_path(name)
        if not data.is_dir():
            data.mkdir(parents=True, exist_ok=True)
            meta = {"CreatedAt": datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
                    "Labels": dict(labels or {}) or None, "Options": dict(options or {}) or None}
            private.write_file(self.root / name / META, json.dumps(meta))  # 0600: its options may hold a password
        return data

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(d.name for d in self.root.iterdir() if (d / "_data").is_dir() and NAME_RE.match(d.name))

    def inspect(self, name: str) -> dict[str, Any]:
        if not NAME_RE.match(name) or not self.data_path(name).is_dir():
            raise NotFound(f"get {name}: no such volume")
        try:
            meta = json.loads((self.root / name / META).read_text())
        except (OSError, ValueError):
            meta = {}
        return {"CreatedAt": meta.get("CreatedAt", ""), "Driver": "local", "Labels": meta.get("Labels"),
                "Mountpoint": str(self.data_path(name)), "Name": name, "Options": meta.get("Options"),
                "Scope": "local"}

    def ls(self, filters: dict[str, list[str]] | None = None, in_use: set[str] | None = None) -> list[dict[str, Any]]:
        f = filters or {}
        out = []
        for name in self.names():
            v = self.inspect(name)
            if "name" in f and not any(x in name for x in f["name"]):
                continue
            if "driver" in f and "local" not in f["driver"]:
                continue
            if "label" in f and not labels_match(v["Labels"], f["label"]):
                continue
            if "dangling" in f and in_use is not None:
                dangling = name not in in_use
                if any((x.lower() in ("true", "1")) != dangling for x in f["dangling"]):
                    continue
            out.append(v)
        return out

    def create(self, name: str, driver: str = "", labels: dict[str, str] | None = None,
               options: dict[str, str] | None = None) -> dict[str, Any]:
        if driver not in ("", "local"):
            raise NotFound(f"error looking up volume plugin {driver}: plugin \"{driver}\" not found")
        self.ensure(name, labels, options)
        return self.inspect(name)

    def remove(self, name: str, users: list[str], force: bool = False) -> None:
        if not self.data_path(name).is_dir() or not NAME_RE.match(name):
            if force:
                return
            raise NotFound(f"get {name}: no such volume")
        if users:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        shutil.rmtree(self.root / name)

    def prune(self, in_use: set[str], all_named: bool) -> tuple[list[str], int]:
        """Unused volumes removed (only with ``all_named``: every volume here has a name, and Docker's
        prune keeps named volumes unless told ``all=true``) and the bytes freed."""
        deleted, freed = [], 0
        for name in self.names() if all_named else []:
            if name in in_use:
                continue
            freed += sum(p.stat().st_size for p in self.data_path(name).rglob("*") if p.is_file())
            shutil.rmtree(self.root / name)
            deleted.append(name)
        return deleted, freed
