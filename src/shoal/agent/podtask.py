"""A Pod's task as the runtime runs it: its Kubernetes settings turned into what a runtime knows.

``runtime_task`` takes the task the manager sent (``TaskSpec.Pod``, ``ContainerSpec.Pod``) and gives
a copy where every container has its whole environment in ``Env`` (``podenv.environment``), its
``command`` and ``args`` with ``$(VAR)`` expanded, its volume mounts as bind ``Mounts`` of the
directories ``runtime/podvolumes.py`` made (``subPath`` inside them; ``secret``, ``configMap``,
``downwardAPI`` and ``projected`` volumes always read-only, as the kubelet mounts them), and the
Pod's ``runAsUser``/``runAsGroup`` as its user when it names none. The environment is resolved
before anything is made on the node, so a missing Secret leaves nothing behind.

``image_policy`` says what ``imagePullPolicy`` asks of a container's image; ``pull_auth`` finds the
credentials for its registry in the Pod's ``imagePullSecrets`` (``kubernetes.io/dockerconfigjson``:
``{"auths": {host: {...}}}``, or the older ``kubernetes.io/dockercfg``: ``{host: {...}}``), as the
``X-Registry-Auth`` value the registry client takes.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from shoal.agent.podenv import CONTAINER_CREATING, ConfigError, NamedObjects, PodFields, argv, environment, volume_files
from shoal.api.errors import InvalidArgument
from shoal.api.types import Config, ContainerSpec, Mount, Secret, Task, clone, containers_of
from shoal.runtime import reference
from shoal.runtime.podvolumes import PodVolumes, VolumeSource


class NoObjects:
    """A node that holds no Secret or ConfigMap (``NamedObjects``)."""

    def secret(self, namespace: str, name: str) -> Secret | None:
        return None

    def config(self, namespace: str, name: str) -> Config | None:
        return None


def volume_sources(task: Task, objects: NamedObjects, fields: PodFields) -> list[VolumeSource]:
    """The Pod's volumes as the node makes them; raises ``ConfigError``."""
    out: list[VolumeSource] = []
    for v in (task.Spec.Pod.Volumes if task.Spec.Pod is not None else None) or []:
        files = volume_files(task, v, objects, fields)
        if files is not None:
            out.append(VolumeSource(v.Name, "files", files=files))
        elif v.EmptyDir is not None:
            medium = v.EmptyDir.Medium == "Memory"
            out.append(VolumeSource(v.Name, "memory" if medium else "dir", size=v.EmptyDir.SizeLimit))
        elif v.HostPath is not None:
            out.append(VolumeSource(v.Name, "host", path=v.HostPath.Path, host_type=v.HostPath.Type))
        else:
            raise ConfigError(CONTAINER_CREATING, f'volume "{v.Name}": no volume source this node supports')
    return out


def _user(c: ContainerSpec, task: Task) -> None:
    pod = task.Spec.Pod
    if c.User or pod is None or (pod.RunAsUser is None and pod.RunAsGroup is None):
        return
    uid = pod.RunAsUser if pod.RunAsUser is not None else 0
    c.User = f"{uid}:{pod.RunAsGroup}" if pod.RunAsGroup is not None else str(uid)


def runtime_task(task: Task, objects: NamedObjects, fields: PodFields, volumes: PodVolumes | None) -> Task:
    """The copy of a Pod's task the runtime prepares (see the module's docstring); raises
    ``ConfigError`` (its volumes are then not made) or ``RuntimeError_`` (a volume could not be made).
    Without ``volumes`` (a node whose runtime runs nothing real) the volumes are neither made nor
    mounted."""
    if task.Spec.Pod is None:
        return task
    out: Task = clone(task)
    sources = volume_sources(out, objects, fields)
    for c in containers_of(out.Spec):
        env = environment(out, c, objects, fields)
        c.Env = env or None
        c.Command = argv(c.Command, env)
        c.Args = argv(c.Args, env)
        _user(c, out)
        if c.Pod is not None:
            c.Pod.EnvRefs, c.Pod.EnvFrom = None, None
    if volumes is None:  # a node that makes no volumes (its runtime runs nothing real: hollow)
        return out
    paths = volumes.make(out.ID, sources) if sources else {}
    kinds = {s.name: s.kind for s in sources}
    for c in containers_of(out.Spec):
        for vm in (c.Pod.VolumeMounts if c.Pod is not None else None) or []:
            root = paths.get(vm.Name)
            if root is None:
                raise ConfigError(CONTAINER_CREATING, f'volume "{vm.Name}" of container {c.Name} is not a '
                                                      "volume of the Pod")
            src = PodVolumes.subpath(vm.Name, root, vm.SubPath) if vm.SubPath else root
            ro = vm.ReadOnly or kinds.get(vm.Name) == "files"
            c.Mounts = [*(c.Mounts or []), Mount(Type="bind", Source=str(src), Target=vm.MountPath, ReadOnly=ro)]
    return out


def image_policy(c: ContainerSpec) -> str:
    """The container's ``imagePullPolicy`` (``Always``, ``IfNotPresent``, ``Never``); "" for a Swarm
    task's (the Puller's own rule: pull what the node lacks)."""
    return c.Pod.ImagePullPolicy if c.Pod is not None else ""


def _hosts(key: str) -> set[str]:
    """The registry hosts a key of a Docker config names (``https://index.docker.io/v1/``, ``host:5000``)."""
    host = key.removeprefix("https://").removeprefix("http://").split("/")[0]
    return {"docker.io", "index.docker.io", "registry-1.docker.io"} if host.endswith("docker.io") else {host}


def pull_auth(task: Task, image: str, objects: NamedObjects) -> str:
    """The ``X-Registry-Auth`` for the image's registry from the Pod's image pull secrets ("" when none
    has it, or the image's name is no registry's)."""
    pod = task.Spec.Pod
    if pod is None or not pod.ImagePullSecrets:
        return ""
    try:
        domain = reference.parse(image).domain
    except InvalidArgument:
        return ""
    for name in pod.ImagePullSecrets:
        s = objects.secret(task.Namespace, name)
        items = (s.Spec.Items or {}) if s is not None else {}
        raw = items.get(".dockerconfigjson") or items.get(".dockercfg")
        if raw is None:
            continue
        try:
            doc: Any = json.loads(raw)
        except ValueError:
            continue
        auths = doc.get("auths", doc) if isinstance(doc, dict) else {}
        for key, entry in (auths.items() if isinstance(auths, dict) else ()):
            if domain in _hosts(str(key)) and isinstance(entry, dict):
                entry = {**entry, "serveraddress": key}
                return base64.urlsafe_b64encode(json.dumps(entry).encode()).decode()
    return ""
