"""The node's image store: images imported, loaded and tagged locally, layers unpacked once.

Layout under ``<data-root>/images``::

    repositories.json          {"nginx:latest": "sha256:<image id>", ...}
    digests.json               {"127.0.0.1:5000/app@sha256:<manifest digest>": "sha256:<image id>", ...}
    configs/<id hex>.json      the image config, byte for byte (its sha256 is the image ID)
    layers/<diff id hex>.tar   the layer as it came (uncompressed), so ``save`` reproduces it exactly
    layers/<diff id hex>/      the layer unpacked once, shared by every container (overlayfs lower dir)

Whiteouts (``.wh.name``, ``.wh..wh..opq``) become overlayfs whiteouts when unpacked. ``import`` takes
a root filesystem tarball (optionally compressed) and Dockerfile-style changes (``CMD``, ``ENV``,
``WORKDIR``, ``ENTRYPOINT``, …); ``load`` and ``save`` speak the docker-archive format
(``manifest.json``), also reading the OCI layout that Docker 25 and later write. Images pulled from a
registry (``registry.py``) come in through ``has_layer``/``add_layer``/``add_config`` and are named by
tag and by repository digest (``RepoDigests``); a reference with a digest resolves by that digest only.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import json
import lzma
import os
import platform
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from shoal.api.errors import Conflict, InvalidArgument, NotFound
from shoal.api.humanize import parse_go_duration
from shoal.api.types import now_ts
from shoal.runtime.progress import Clock, Emit, ProgressReader


def go_arch() -> str:
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(m, m)


def normalize(ref: str) -> str:
    """``nginx`` → ``nginx:latest``; ``docker.io/library/nginx:1`` → ``nginx:1``; digests kept."""
    ref = ref.strip()
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
    if "@" in ref:
        return ref
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        ref += ":latest"
    return ref


def digest_key(ref: str) -> str | None:
    """``127.0.0.1:5000/app:1.2@sha256:…`` → ``127.0.0.1:5000/app@sha256:…`` (the tag dropped);
    ``None`` for a reference without a digest."""
    name = normalize(ref)
    if "@" not in name:
        return None
    repo, digest = name.split("@", 1)
    last = repo.rsplit("/", 1)[-1]
    if ":" in last:
        repo = repo[: len(repo) - len(last) + last.index(":")]
    return f"{repo}@{digest}"


def split_ref(ref: str) -> tuple[str, str]:
    ref = normalize(ref)
    name, _, tag = ref.rpartition(":")
    return name, tag


@dataclass
class Image:
    id: str  # sha256:<hex>
    config: dict[str, Any]
    raw_config: bytes
    tags: list[str]

    @property
    def diff_ids(self) -> list[str]:
        return list(self.config.get("rootfs", {}).get("diff_ids", []))

    @property
    def container_config(self) -> dict[str, Any]:
        return self.config.get("config") or {}


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.configs = self.root / "configs"
        self.layers = self.root / "layers"
        self.configs.mkdir(parents=True, exist_ok=True)
        self.layers.mkdir(parents=True, exist_ok=True)
        self._repos_path = self.root / "repositories.json"
        self._digests_path = self.root / "digests.json"
        self._lock = threading.Lock()
        self._layer_locks: dict[str, threading.Lock] = {}
        self.repos: dict[str, str] = {}
        self.digests: dict[str, str] = {}
        if self._repos_path.exists():
            self.repos = json.loads(self._repos_path.read_text())
        if self._digests_path.exists():
            self.digests = json.loads(self._digests_path.read_text())

    # ------------------------------------------------------------ lookup

    def _save_repos(self) -> None:
        for path, data in ((self._repos_path, self.repos), (self._digests_path, self.digests)):
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            tmp.replace(path)

    def repo_digests(self, image_id: str) -> list[str]:
        return sorted(k for k, v in self.digests.items() if v == image_id)

    def ids(self) -> list[str]:
        return ["sha256:" + p.stem for p in self.configs.glob("*.json")]

    def get_by_id(self, image_id: str) -> Image | None:
        hexid = image_id.removeprefix("sha256:")
        p = self.configs / f"{hexid}.json"
        if not p.exists():
            return None
        raw = p.read_bytes()
        full = "sha256:" + hexid
        return Image(full, json.loads(raw), raw, sorted(t for t, i in self.repos.items() if i == full))

    def resolve(self, ref: str) -> Image | None:
        """An image by name[:tag], full ID, or unambiguous ID prefix (as docker does)."""
        if not ref:
            return None
        name = normalize(ref)
        key = digest_key(name)
        if key is not None:  # pinned: that content or nothing (the tag may name another image by now)
            iid = self.digests.get(key)
            return self.get_by_id(iid) if iid is not None else None
        iid = self.repos.get(name)
        if iid is not None:
            return self.get_by_id(iid)
        hexpart = ref.removeprefix("sha256:")
        if all(c in "0123456789abcdef" for c in hexpart) and len(hexpart) >= 4:
            matches = [i for i in self.ids() if i.removeprefix("sha256:").startswith(hexpart)]
            if len(matches) == 1:
                return self.get_by_id(matches[0])
        return None

    def must(self, ref: str) -> Image:
        img = self.resolve(ref)
        if img is None:
            raise NotFound(f"No such image: {ref if ref.startswith('sha256:') else normalize(ref)}")
        return img

    def layer_dirs(self, img: Image) -> list[Path]:
        """Unpacked layer directories, top layer first (overlayfs ``lowerdir`` order)."""
        return [self.layers / d.removeprefix("sha256:") for d in reversed(img.diff_ids)]

    def size(self, img: Image) -> int:
        total = 0
        for d in img.diff_ids:
            with contextlib.suppress(FileNotFoundError):
                total += (self.layers / (d.removeprefix("sha256:") + ".tar")).stat().st_size
        return total

    def has_layer(self, diff_id: str) -> bool:
        """The layer is stored and unpacked already (a pull need not fetch it)."""
        hexid = diff_id.removeprefix("sha256:")
        return (self.layers / f"{hexid}.tar").exists() and (self.layers / hexid).is_dir()

    # ------------------------------------------------------------ writing

    def _layer_lock(self, hexid: str) -> threading.Lock:
        with self._lock:
            return self._layer_locks.setdefault(hexid, threading.Lock())

    def add_layer(self, src: IO[bytes], diff_id: str) -> str:
        """Store a layer that must have this diff ID (a pulled layer): refused before it is unpacked
        when its uncompressed content hashes otherwise."""
        return self._store_layer(src, expect=diff_id)

    def add_config(self, raw: bytes) -> str:
        """Store an image config byte for byte; returns the image ID (its sha256)."""
        return self._store_config(raw)

    def name_image(self, image_id: str, tag: str = "", digest_ref: str = "") -> None:
        """Point a tag (``name:tag``) and/or a repository digest (``name@sha256:…``) at an image."""
        key = digest_key(digest_ref) if digest_ref else None
        with self._lock:
            if tag:
                self.repos[normalize(tag)] = image_id
            if key is not None:
                self.digests[key] = image_id
            self._save_repos()

    def _store_layer(self, src: IO[bytes], expect: str = "") -> str:
        """Copy an (optionally compressed) layer tar in, unpack it once; returns its diff ID.
        With ``expect``, a layer whose diff ID differs is refused (``InvalidArgument``)."""
        src = _decompressed(src)
        fd, tmp = tempfile.mkstemp(dir=self.layers, prefix=".in-")
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            while chunk := src.read(1 << 20):
                h.update(chunk)
                out.write(chunk)
        hexid = h.hexdigest()
        if expect and expect != "sha256:" + hexid:
            os.unlink(tmp)
            raise InvalidArgument(f"layer content is sha256:{hexid}, not {expect}")
        final_tar = self.layers / f"{hexid}.tar"
        unpacked = self.layers / hexid
        with self._layer_lock(hexid):  # two pulls sharing a layer unpack it once
            if unpacked.exists() and final_tar.exists():
                os.unlink(tmp)
                return "sha256:" + hexid
            os.replace(tmp, final_tar)
            work = self.layers / f".unpack-{hexid}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            _untar(final_tar, work)
            if unpacked.exists():
                shutil.rmtree(unpacked)
            os.replace(work, unpacked)
        return "sha256:" + hexid

    def _store_config(self, raw: bytes) -> str:
        hexid = hashlib.sha256(raw).hexdigest()
        p = self.configs / f"{hexid}.json"
        if not p.exists():
            tmp = p.with_suffix(".tmp")
            tmp.write_bytes(raw)
            tmp.replace(p)
        return "sha256:" + hexid

    def tag(self, ref_or_id: str, target: str) -> None:
        img = self.must(ref_or_id)
        with self._lock:
            self.repos[normalize(target)] = img.id
            self._save_repos()

    def import_tar(self, src: IO[bytes], repo: str = "", tag: str = "", changes: Iterable[str] = (),
                   message: str = "") -> str:
        """``docker import``: one layer from a root filesystem tarball, config from ``changes``."""
        diff_id = self._store_layer(src)
        cfg: dict[str, Any] = {}
        for ch in changes:
            apply_change(cfg, ch)
        created = now_ts()
        config = {
            "architecture": go_arch(),
            "config": cfg,
            "created": created,
            "history": [{"created": created, "comment": message or "Imported from -"}],
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
        iid = self._store_config(json.dumps(config, separators=(",", ":")).encode())
        if repo:
            with self._lock:
                self.repos[normalize(f"{repo}:{tag or 'latest'}")] = iid
                self._save_repos()
        return iid

    def load(self, src: IO[bytes], progress: Emit | None = None, clock: Clock = time.monotonic) -> list[str]:
        """``docker load``: a docker-archive (or OCI layout) tarball; returns what it loaded. With
        ``progress``, each layer not stored yet reports ``Loading layer`` as dockerd does (its ID: the
        diff ID's first 12 hex digits)."""
        loaded: list[str] = []
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".load-") as tmp:
            try:
                with tarfile.open(fileobj=_decompressed(src), mode="r|*") as tf:
                    tf.extractall(tmp, filter="tar")
            except tarfile.ReadError as e:  # nothing at all is an archive without a manifest; else Go's tar words
                if str(e) == "empty file":
                    raise InvalidArgument("invalid archive: does not contain a manifest.json") from e
                raise InvalidArgument("archive/tar: invalid tar header") from e
            man_path = Path(tmp) / "manifest.json"
            if not man_path.exists():
                raise InvalidArgument("invalid archive: does not contain a manifest.json")
            manifest = json.loads(man_path.read_text())
            for entry in manifest:
                raw = (Path(tmp) / entry["Config"]).read_bytes()
                config = json.loads(raw)
                want = config.get("rootfs", {}).get("diff_ids", [])
                got = []
                for i, layer in enumerate(entry["Layers"]):
                    diff_id = want[i] if i < len(want) else ""
                    if diff_id and self.has_layer(diff_id):  # dockerd loads a layer it has once
                        got.append(diff_id)
                        continue
                    with open(Path(tmp) / layer, "rb") as f:
                        if progress is None:
                            got.append(self._store_layer(f))
                            continue
                        short = (diff_id.partition(":")[2] or Path(layer).parent.name or layer)[:12]
                        reader = ProgressReader(f, os.fstat(f.fileno()).st_size, short, "Loading layer", progress,
                                                clock)
                        got.append(self._store_layer(cast(IO[bytes], reader)))
                        reader.close()
                if want and got != want:
                    raise InvalidArgument("invalid archive: layer digests do not match the image config")
                iid = self._store_config(raw)
                tags = entry.get("RepoTags") or []
                with self._lock:
                    for t in tags:
                        self.repos[normalize(t)] = iid
                    self._save_repos()
                if tags:
                    loaded.extend(f"Loaded image: {t}" for t in tags)
                else:
                    loaded.append(f"Loaded image ID: {iid}")
        return loaded

    def save(self, refs: list[str], out: IO[bytes]) -> None:
        """``docker save``: a docker-archive tarball of the images (legacy layout, readable by docker load)."""
        images = [(r, self.must(r)) for r in refs]
        manifest = []
        with tarfile.open(fileobj=out, mode="w|") as tf:
            done: set[str] = set()
            for ref, img in images:
                cfg_name = img.id.removeprefix("sha256:") + ".json"
                layers = []
                for d in img.diff_ids:
                    hexid = d.removeprefix("sha256:")
                    name = f"{hexid}/layer.tar"
                    layers.append(name)
                    if name not in done:
                        tf.add(self.layers / f"{hexid}.tar", arcname=name)
                        done.add(name)
                if cfg_name not in done:
                    _add_bytes(tf, cfg_name, img.raw_config)
                    done.add(cfg_name)
                is_id = self.resolve(ref) is not None and normalize(ref) not in self.repos
                tags = [] if is_id else [normalize(ref)]
                manifest.append({"Config": cfg_name, "RepoTags": tags, "Layers": layers})
            _add_bytes(tf, "manifest.json", json.dumps(manifest).encode())

    def remove(self, ref: str, force: bool = False, in_use: set[str] | None = None) -> list[dict[str, str]]:
        """``docker rmi``: untag; delete the image when no tag is left (its repository digests go with
        the last tag, as Docker does). Returns Docker's report."""
        img = self.must(ref)
        name = digest_key(ref) or normalize(ref)
        digests = self.repo_digests(img.id)
        short = img.id.removeprefix("sha256:")[:12]
        by_ref = self.repos.get(name) == img.id or self.digests.get(name) == img.id
        if by_ref and any(t != name for t in img.tags):
            with self._lock:
                self.repos.pop(name, None)
                self.digests.pop(name, None)
                self._save_repos()
            return [{"Untagged": name}]
        if not by_ref and len(img.tags) > 1 and not force:
            raise Conflict(
                f"conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
            )
        if in_use and img.id in in_use and not force:
            raise Conflict(
                f'conflict: unable to remove repository reference "{ref}" (must force) - container is using '
                f"its referenced image {short}"
            )
        out: list[dict[str, str]] = []
        with self._lock:
            for t in img.tags:
                del self.repos[t]
                out.append({"Untagged": t})
            for d in digests:
                del self.digests[d]
                out.append({"Untagged": d})
            self._save_repos()
        (self.configs / (img.id.removeprefix("sha256:") + ".json")).unlink(missing_ok=True)
        out.append({"Deleted": img.id})
        used = set()
        for other in self.ids():
            o = self.get_by_id(other)
            if o is not None:
                used.update(o.diff_ids)
        for d in img.diff_ids:
            if d in used:
                continue
            hexid = d.removeprefix("sha256:")
            (self.layers / f"{hexid}.tar").unlink(missing_ok=True)
            shutil.rmtree(self.layers / hexid, ignore_errors=True)
            out.append({"Deleted": d})
        return out


# ---------------------------------------------------------------- helpers

def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tf.addfile(info, io.BytesIO(data))


class _Peek:
    """A stream with its first bytes read ahead, to sniff compression."""

    def __init__(self, src: IO[bytes], head: bytes) -> None:
        self.src, self.head = src, head

    def read(self, n: int = -1) -> bytes:
        if self.head:
            if n < 0:
                out, self.head = self.head + self.src.read(), b""
                return out
            out, self.head = self.head[:n], self.head[n:]
            if len(out) < n:
                out += self.src.read(n - len(out))
            return out
        return self.src.read(n)


def _decompressed(src: IO[bytes]) -> IO[bytes]:
    head = src.read(6)
    peek = _Peek(src, head)
    stream = cast(Any, peek)
    if head.startswith(b"\x1f\x8b"):
        return cast(IO[bytes], gzip.GzipFile(fileobj=stream))
    if head.startswith(b"BZh"):
        return bz2.BZ2File(stream)
    if head.startswith(b"\xfd7zXZ"):
        return lzma.LZMAFile(stream)
    return cast(IO[bytes], stream)


def _untar(tar_path: Path, dest: Path) -> None:
    """Unpack a layer with GNU tar (owners, modes, devices, links), then turn whiteouts into overlayfs ones."""
    args = ["tar", "-x", "-f", str(tar_path), "-C", str(dest), "--no-same-permissions"]
    if os.geteuid() == 0:
        args = ["tar", "-x", "-f", str(tar_path), "-C", str(dest), "--same-owner", "--numeric-owner",
                "--same-permissions", "--xattrs", "--xattrs-include=*"]
    r = subprocess.run(args, capture_output=True)
    if r.returncode != 0:
        raise InvalidArgument(f"archive/tar: invalid tar header: {r.stderr.decode().strip()}")
    for dirpath, _dirnames, filenames in os.walk(dest):
        for fn in filenames:
            if not fn.startswith(".wh."):
                continue
            marker = os.path.join(dirpath, fn)
            os.unlink(marker)
            if fn == ".wh..wh..opq":
                with contextlib.suppress(OSError):
                    os.setxattr(dirpath, "trusted.overlay.opaque", b"y")
            else:
                with contextlib.suppress(OSError):
                    os.mknod(os.path.join(dirpath, fn[4:]), 0o600 | 0o020000, os.makedev(0, 0))


_CHANGE_KEYS = {"CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME",
                "WORKDIR", "HEALTHCHECK"}


_HEALTH_OPTIONS = {"interval": "Interval", "timeout": "Timeout", "start-period": "StartPeriod",
                   "start-interval": "StartInterval", "retries": "Retries"}


def healthcheck_instruction(rest: str) -> dict[str, Any]:
    """``HEALTHCHECK [--interval=… --timeout=… --start-period=… --start-interval=… --retries=N] CMD …``
    or ``HEALTHCHECK NONE``, as the Dockerfile has it: the exec form (a JSON array) gives ``CMD``, the
    shell form ``CMD-SHELL``; durations are Go's and at least 1ms; options left out stay unset (0)."""
    words = rest.split(None, 1)
    check: dict[str, Any] = {}
    while words and words[0].startswith("--"):
        name, eq, value = words[0][2:].partition("=")
        field = _HEALTH_OPTIONS.get(name)
        if field is None:
            raise InvalidArgument(f"Unknown flag: {name}")
        if not eq:
            raise InvalidArgument(f"Missing a value on flag: {name}")
        if field == "Retries":
            try:
                check[field] = int(value)
            except ValueError:
                raise InvalidArgument(f'strconv.ParseInt: parsing "{value}": invalid syntax') from None
            if check[field] < 0:
                raise InvalidArgument(f"--retries cannot be negative ({check[field]})")
        else:
            try:
                ns = parse_go_duration(value)
            except ValueError as e:
                raise InvalidArgument(str(e)) from None
            if ns < 1_000_000 and ns != 0:
                raise InvalidArgument(f'Interval "{name}" cannot be less than 1ms')
            check[field] = ns
        words = words[1].split(None, 1) if len(words) > 1 else []
    kind = words[0].upper() if words else ""
    cmd = words[1].strip() if len(words) > 1 else ""
    if kind == "NONE":
        if check or cmd:
            raise InvalidArgument("HEALTHCHECK NONE takes no arguments")
        return {"Test": ["NONE"]}
    if kind != "CMD":
        raise InvalidArgument(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    if not cmd:
        raise InvalidArgument("Missing command after HEALTHCHECK CMD")
    test: list[str] = ["CMD-SHELL", cmd]
    if cmd.startswith("["):
        try:
            argv = json.loads(cmd)
        except ValueError:
            argv = None
        if isinstance(argv, list) and argv and all(isinstance(x, str) for x in argv):
            test = ["CMD", *argv]
    return {"Test": test, **check}


def apply_change(cfg: dict[str, Any], change: str) -> None:
    """Apply one Dockerfile instruction of ``docker import -c`` to an image config's ``config``."""
    change = change.strip()
    if not change:
        return
    word, _, rest = change.partition(" ")
    key = word.upper()
    rest = rest.strip()
    if key not in _CHANGE_KEYS:
        raise InvalidArgument(f"{word} is not a valid change command")

    def cmdline() -> list[str]:
        if rest.startswith("["):
            try:
                v = json.loads(rest)
            except ValueError:
                return ["/bin/sh", "-c", rest]
            if isinstance(v, list) and all(isinstance(x, str) for x in v):
                return v
        return ["/bin/sh", "-c", rest]

    if key == "CMD":
        cfg["Cmd"] = cmdline()
    elif key == "ENTRYPOINT":
        cfg["Entrypoint"] = cmdline()
    elif key == "ENV":
        env = cfg.setdefault("Env", [])
        pairs: list[tuple[str, str]] = []
        if "=" in rest.split(" ", 1)[0]:
            for item in shlex.split(rest):
                k, _, v = item.partition("=")
                pairs.append((k, v))
        else:
            k, _, v = rest.partition(" ")
            pairs.append((k, v.strip()))
        for k, v in pairs:
            env[:] = [e for e in env if not e.startswith(k + "=")] + [f"{k}={v}"]
    elif key == "WORKDIR":
        cfg["WorkingDir"] = rest
    elif key == "USER":
        cfg["User"] = rest
    elif key == "STOPSIGNAL":
        cfg["StopSignal"] = rest
    elif key == "EXPOSE":
        ports = cfg.setdefault("ExposedPorts", {})
        for p in rest.split():
            ports[p if "/" in p else p + "/tcp"] = {}
    elif key == "VOLUME":
        vols = cfg.setdefault("Volumes", {})
        items = json.loads(rest) if rest.startswith("[") else rest.split()
        for v in items:
            vols[v] = {}
    elif key == "LABEL":
        labels = cfg.setdefault("Labels", {})
        for item in shlex.split(rest):
            k, _, v = item.partition("=")
            labels[k] = v
    elif key == "ONBUILD":
        cfg.setdefault("OnBuild", []).append(rest)
    elif key == "HEALTHCHECK":
        cfg["Healthcheck"] = healthcheck_instruction(rest)
