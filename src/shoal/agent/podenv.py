"""What a Pod's containers are given on their node, as the kubelet makes it: their environment and the
contents of their volumes, from the Pod's own fields and the Secrets and ConfigMaps of its namespace.

* **Environment** (``environment``): ``envFrom`` first (every key of a Secret or ConfigMap, with the
  prefix; keys that are no variable names are skipped), then the plain ``env`` (each value's
  ``$(VAR)`` expanded with what is defined so far), then ``valueFrom`` (a Pod field, a container's
  resource, a key of a Secret or ConfigMap). An optional source may be missing; a required one that
  is missing is a ``ConfigError`` with Kubernetes' reason ``CreateContainerConfigError`` and words
  (``secret "x" not found``, ``couldn't find key k in Secret ns/x``).
* **Command and args**: ``$(VAR)`` expanded with the container's environment (``expand``:
  ``$$`` is a ``$``, an unknown ``$(X)`` stays as it is).
* **Volume files** (``volume_files``): a ``secret``, ``configMap``, ``downwardAPI`` or ``projected``
  volume as ``{relative path: (bytes, mode)}``: every key, or the ``items`` asked for at their paths,
  with the item's mode or the volume's ``defaultMode``. A required Secret or ConfigMap that is
  missing is a ``ConfigError`` with reason ``ContainerCreating`` and the kubelet's ``FailedMount`` words.

Nothing here touches the node: ``runtime/podvolumes.py`` makes the directories and tmpfs, the
executor (``executor.py``) puts them together.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from shoal.api.pod import (
    ConfigMapVolume,
    DownwardAPIVolume,
    KeyRef,
    KeyToPath,
    ObjectFieldRef,
    ResourceFieldRef,
    SecretVolume,
    Volume,
)
from shoal.api.types import Config, ContainerSpec, Secret, Task, containers_of

T = TypeVar("T")

CONFIG_ERROR = "CreateContainerConfigError"
CONTAINER_CREATING = "ContainerCreating"
ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")  # Kubernetes' C identifier-ish check for env names
_FIELD = re.compile(r"metadata\.(labels|annotations)\['(.*)'\]")


class ConfigError(Exception):
    """A container cannot be made yet: ``reason`` and ``message`` in Kubernetes' words."""

    def __init__(self, reason: str, message: str, container: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.container = container  # the one container it is about ("": every one)


class NamedObjects(Protocol):
    """The Secrets and ConfigMaps this node holds, by namespace and name (``Dependencies``)."""

    def secret(self, namespace: str, name: str) -> Secret | None: ...

    def config(self, namespace: str, name: str) -> Config | None: ...


@dataclass(frozen=True)
class PodFields:
    """What the downward API tells of a Pod beyond its task: where it runs."""

    node_name: str = ""
    pod_ip: str = ""
    host_ip: str = ""
    node_cpus: int = 0  # nano CPUs: a ``resourceFieldRef`` without a limit reads the node's
    node_memory: int = 0


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: a defined variable is replaced, ``$$`` is a ``$``, an unknown
    or unclosed reference stays as written."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close < 0:
                out.append("$(")
                i += 2
                continue
            name = text[i + 2:close]
            out.append(env[name] if name in env else f"$({name})")
            i = close + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def secret_items(s: Secret) -> dict[str, bytes]:
    return dict(s.Spec.Items or {})


def config_items(c: Config) -> dict[str, bytes]:
    out = {k: v.encode() for k, v in (c.Spec.Items or {}).items()}
    out.update(c.Spec.BinaryItems or {})
    return out


def field_value(task: Task, ref: ObjectFieldRef, fields: PodFields) -> str:
    """A Pod field (``fieldRef.fieldPath``) as the downward API gives it."""
    path = ref.FieldPath
    pod = task.Spec.Pod
    simple = {
        "metadata.name": task.Name,
        "metadata.namespace": task.Namespace,
        "metadata.uid": task.ID,
        "spec.nodeName": fields.node_name,
        "spec.serviceAccountName": pod.ServiceAccountName if pod is not None else "",
        "status.podIP": fields.pod_ip,
        "status.podIPs": fields.pod_ip,
        "status.hostIP": fields.host_ip,
        "status.hostIPs": fields.host_ip,
    }
    if path in simple:
        return simple[path]
    m = _FIELD.fullmatch(path)
    if m is not None:
        found = (task.Labels if m.group(1) == "labels" else task.Annotations) or {}
        return found.get(m.group(2), "")
    if path in ("metadata.labels", "metadata.annotations"):
        found = (task.Labels if path == "metadata.labels" else task.Annotations) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(found.items()))
    raise ConfigError(CONFIG_ERROR, f"unsupported fieldPath: {path}")


_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
           "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "m": 1e-3, "": 1}


def quantity(text: str) -> float:
    """A Kubernetes quantity (``500m``, ``64Mi``, ``1``) as a number."""
    m = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", text.strip())
    if m is None or m.group(2) not in _SUFFIX:
        raise ValueError(f"invalid quantity {text!r}")
    return float(m.group(1)) * _SUFFIX[m.group(2)]


def resource_value(task: Task, container: ContainerSpec, ref: ResourceFieldRef, fields: PodFields) -> str:
    """A container's request or limit in units of the divisor, rounded up as the kubelet does (a limit
    that is not set reads the node's capacity)."""
    target = container
    if ref.Container:
        target = next((c for c in containers_of(task.Spec) if c.Name == ref.Container), container)
    reqs = target.Resources
    kind, _, what = ref.Resource.partition(".")
    res = (reqs.Limits if kind == "limits" else reqs.Reservations) if reqs is not None else None
    try:
        divisor = quantity(ref.Divisor) if ref.Divisor else 1.0
    except ValueError as e:
        raise ConfigError(CONFIG_ERROR, str(e)) from e
    if what == "cpu":
        value = (res.NanoCPUs if res is not None and res.NanoCPUs else 0) / 1e9
        if not value and kind == "limits":
            value = fields.node_cpus / 1e9
    elif what == "memory":
        value = float(res.MemoryBytes if res is not None and res.MemoryBytes else 0)
        if not value and kind == "limits":
            value = float(fields.node_memory)
    else:
        raise ConfigError(CONFIG_ERROR, f"unsupported container resource: {ref.Resource}")
    return str(max(math.ceil(value / divisor - 1e-9), 1 if value else 0))


def environment(task: Task, container: ContainerSpec, objects: NamedObjects, fields: PodFields) -> list[str]:
    """The container's ``KEY=value`` list: ``envFrom``, then ``env``, then ``valueFrom`` (see the
    module's docstring); raises ``ConfigError``."""
    ns = task.Namespace
    env: dict[str, str] = {}
    extra = container.Pod
    for src in (extra.EnvFrom if extra is not None else None) or []:
        if src.SecretName:
            s = objects.secret(ns, src.SecretName)
            if s is None:
                if src.Optional:
                    continue
                raise ConfigError(CONFIG_ERROR, f'secret "{src.SecretName}" not found')
            items = secret_items(s)
        else:
            c = objects.config(ns, src.ConfigMapName)
            if c is None:
                if src.Optional:
                    continue
                raise ConfigError(CONFIG_ERROR, f'configmap "{src.ConfigMapName}" not found')
            items = config_items(c)
        for k, v in items.items():
            name = src.Prefix + k
            if ENV_NAME.fullmatch(name):
                env[name] = v.decode(errors="replace")
    for item in container.Env or []:
        var, _, text = item.partition("=")
        env[var] = expand(text, env)
    for ref in (extra.EnvRefs if extra is not None else None) or []:
        if ref.FieldRef is not None:
            env[ref.Name] = field_value(task, ref.FieldRef, fields)
        elif ref.ResourceFieldRef is not None:
            env[ref.Name] = resource_value(task, container, ref.ResourceFieldRef, fields)
        elif ref.SecretKeyRef is not None:
            value = _key_of("Secret", ns, ref.SecretKeyRef, objects.secret(ns, ref.SecretKeyRef.Name), secret_items)
            if value is not None:
                env[ref.Name] = value
        elif ref.ConfigMapKeyRef is not None:
            value = _key_of("ConfigMap", ns, ref.ConfigMapKeyRef, objects.config(ns, ref.ConfigMapKeyRef.Name),
                            config_items)
            if value is not None:
                env[ref.Name] = value
    return [f"{k}={v}" for k, v in env.items()]


def _key_of(kind: str, ns: str, key: KeyRef, found: T | None, items: Callable[[T], dict[str, bytes]]) -> str | None:
    """One key of a Secret or ConfigMap (``found``, None when it does not exist) as text; None when an
    optional one is missing, ``ConfigError`` in the kubelet's words when a required one is."""
    if found is None:
        if key.Optional:
            return None
        raise ConfigError(CONFIG_ERROR, f'{kind.lower()} "{key.Name}" not found')
    value = items(found).get(key.Key)
    if value is None:
        if key.Optional:
            return None
        raise ConfigError(CONFIG_ERROR, f"couldn't find key {key.Key} in {kind} {ns}/{key.Name}")
    return value.decode(errors="replace")


def argv(values: list[str] | None, env: list[str]) -> list[str] | None:
    """``command`` or ``args`` with ``$(VAR)`` expanded from the container's environment."""
    if values is None:
        return None
    mapping = dict(e.partition("=")[::2] for e in env)
    return [expand(v, mapping) for v in values]


# ---------------------------------------------------------------- volume files

Files = dict[str, tuple[bytes, int]]


def _failed(volume: str, what: str) -> ConfigError:
    return ConfigError(CONTAINER_CREATING, f'MountVolume.SetUp failed for volume "{volume}" : {what}')


def _clean(volume: str, path: str) -> str:
    norm = posixpath.normpath(path)
    if not path or path.startswith("/") or norm == ".." or norm.startswith("../"):
        raise _failed(volume, f"invalid path {path!r}: must be relative and may not contain '..'")
    return norm


def _keys(volume: str, kind: str, items: dict[str, bytes], wanted: list[KeyToPath] | None, mode: int,
          optional: bool) -> Files:
    if wanted is None:
        return {_clean(volume, k): (v, mode) for k, v in items.items()}
    out: Files = {}
    for it in wanted:
        if it.Key not in items:
            if optional:
                continue
            raise _failed(volume, f"{kind} references non-existent {kind} key: {it.Key}")
        out[_clean(volume, it.Path or it.Key)] = (items[it.Key], mode if it.Mode is None else it.Mode)
    return out


def _secret(volume: str, task: Task, src: SecretVolume, objects: NamedObjects, mode: int) -> Files:
    s = objects.secret(task.Namespace, src.SecretName)
    if s is None:
        if src.Optional:
            return {}
        raise _failed(volume, f'secret "{src.SecretName}" not found')
    return _keys(volume, "secret", secret_items(s), src.Items, mode, bool(src.Optional))


def _config(volume: str, task: Task, src: ConfigMapVolume, objects: NamedObjects, mode: int) -> Files:
    c = objects.config(task.Namespace, src.Name)
    if c is None:
        if src.Optional:
            return {}
        raise _failed(volume, f'configmap "{src.Name}" not found')
    return _keys(volume, "configmap", config_items(c), src.Items, mode, bool(src.Optional))


def _downward(volume: str, task: Task, src: DownwardAPIVolume, fields: PodFields, mode: int) -> Files:
    out: Files = {}
    for it in src.Items or []:
        if it.FieldRef is not None:
            value = field_value(task, it.FieldRef, fields)
        elif it.ResourceFieldRef is not None:
            ref = it.ResourceFieldRef
            c = next((c for c in containers_of(task.Spec) if c.Name == ref.Container), None)
            if c is None:
                raise _failed(volume, f"container {ref.Container!r} not found")
            value = resource_value(task, c, ref, fields)
        else:
            continue
        out[_clean(volume, it.Path)] = (value.encode(), mode if it.Mode is None else it.Mode)
    return out


def volume_files(task: Task, volume: Volume, objects: NamedObjects, fields: PodFields) -> Files | None:
    """The files of a ``secret``, ``configMap``, ``downwardAPI`` or ``projected`` volume; None for a
    volume of another kind (``emptyDir``, ``hostPath``). Raises ``ConfigError``."""
    name = volume.Name
    if volume.Secret is not None:
        return _secret(name, task, volume.Secret, objects, volume.Secret.DefaultMode)
    if volume.ConfigMap is not None:
        return _config(name, task, volume.ConfigMap, objects, volume.ConfigMap.DefaultMode)
    if volume.DownwardAPI is not None:
        return _downward(name, task, volume.DownwardAPI, fields, volume.DownwardAPI.DefaultMode)
    if volume.Projected is not None:
        out: Files = {}
        mode = volume.Projected.DefaultMode
        for src in volume.Projected.Sources or []:
            if src.Secret is not None:
                out.update(_secret(name, task, src.Secret, objects, mode))
            elif src.ConfigMap is not None:
                out.update(_config(name, task, src.ConfigMap, objects, mode))
            elif src.DownwardAPI is not None:
                out.update(_downward(name, task, src.DownwardAPI, fields, mode))
        return out
    return None
