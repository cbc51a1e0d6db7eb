"""The secrets and configs an agent holds for its tasks, and the files they become in a container.

The dispatcher sends a node the secrets and configs (bytes included) of the tasks assigned to it,
with the assignments, and their removal when no task there needs them any more; ``Dependencies``
keeps them in memory only (never on the node's disk) and turns a task's references into
``TaskFile``s for the runtime, with Docker's paths: a secret's relative target under
``/run/secrets``, a config's under ``/``; owner ``uid``:``gid`` (numbers) and the mode's permission
bits as given (the API fills uid/gid 0, mode 0444). A templated secret or config (``Templating``
``golang``) is expanded for each task before it becomes a file (``api/template.py``'s payload context:
the service, node and task, ``env``, and the task's own secrets and configs by target).

A Pod's task names the Secrets and ConfigMaps of its namespace instead (``api/pod.py``); the dispatcher
sends those too, and ``secret`` / ``config`` find them by namespace and name (``agent/podenv.py``
makes the Pod's environment and volume files of them).
"""

from __future__ import annotations

import posixpath

from shoal.api import template
from shoal.api.types import Config, FileTarget, NodeDescription, Secret, Task, first_container
from shoal.protocol import Assignments
from shoal.runtime.base import RuntimeError_, TaskFile
from shoal.runtime.files import SECRETS_DIR


def _target(base: str, name: str) -> str:
    return posixpath.normpath(name if name.startswith("/") else posixpath.join(base, name))


def _owner(kind: str, name: str, value: str, what: str) -> int:
    try:
        n = int(value or "0")
    except ValueError:
        n = -1
    if n < 0:
        raise RuntimeError_(f"{kind} {name}: invalid {what} {value!r}: a number is needed", reject=True)
    return n


def _file(kind: str, name: str, base: str, target: FileTarget, data: bytes) -> TaskFile:
    return TaskFile(kind=kind, name=name, target=_target(base, target.Name), data=data,
                    uid=_owner(kind, name, target.UID, "uid"), gid=_owner(kind, name, target.GID, "gid"),
                    mode=target.Mode & 0o7777)


class Dependencies:
    def __init__(self) -> None:
        self.secrets: dict[str, Secret] = {}
        self.configs: dict[str, Config] = {}

    def apply(self, msg: Assignments) -> None:
        """Take in one assignments message: a full one replaces everything."""
        if msg.full:
            self.secrets.clear()
            self.configs.clear()
        for oid in msg.deps_removed:
            self.secrets.pop(oid, None)
            self.configs.pop(oid, None)
        self.secrets.update((s.ID, s) for s in msg.secrets)
        self.configs.update((c.ID, c) for c in msg.configs)

    def secret(self, namespace: str, name: str) -> Secret | None:
        """The Secret ``name`` of a Kubernetes namespace, if this node was sent it."""
        return next((s for s in self.secrets.values() if s.Namespace == namespace and s.Spec.Name == name), None)

    def config(self, namespace: str, name: str) -> Config | None:
        """The ConfigMap ``name`` of a Kubernetes namespace, if this node was sent it."""
        return next((c for c in self.configs.values() if c.Namespace == namespace and c.Spec.Name == name), None)

    def _data(self, oid: str) -> bytes | None:
        obj = self.secrets.get(oid) or self.configs.get(oid)
        return None if obj is None else obj.Spec.Data or b""

    def files(self, task: Task, node: NodeDescription | None = None) -> list[TaskFile]:
        """The files of the task's secrets and configs (its one container's, as the runtimes run one),
        templated ones expanded for the task on ``node``; raises when one was not received, and
        ``template.TemplateError`` when a template does not expand."""
        cs = first_container(task.Spec)
        out: list[TaskFile] = []
        ctx: template.Struct | None = None

        def data_of(obj: Secret | Config) -> bytes:
            nonlocal ctx
            data = obj.Spec.Data or b""
            if obj.Spec.Templating is None or obj.Spec.Templating.Name != "golang":
                return data
            if ctx is None:
                ctx = template.payload_context(task, task.NodeID, node or NodeDescription(), self._data, self._data)
            return template.expand_payload(data, ctx)

        for r in (cs.Secrets if cs else None) or []:
            secret = self.secrets.get(r.SecretID)
            if secret is None:
                raise RuntimeError_(f"unable to get secret from secret store: secret {r.SecretID} not found")
            if r.File is not None:
                out.append(_file("secret", r.SecretName, SECRETS_DIR, r.File, data_of(secret)))
        for c in (cs.Configs if cs else None) or []:
            if c.File is None:
                continue  # a runtime target (a credential spec): nothing to mount
            config = self.configs.get(c.ConfigID)
            if config is None:
                raise RuntimeError_(f"unable to get config from config store: config {c.ConfigID} not found")
            out.append(_file("config", c.ConfigName, "/", c.File, data_of(config)))
        return out
