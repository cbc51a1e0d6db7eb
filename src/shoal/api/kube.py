"""The Kubernetes kinds that have no Swarm counterpart and are plain data in the core: Namespace,
Event and ServiceAccount. (A Pod is a Task, a Node is a Node, a Secret and a ConfigMap are a Secret
and a Config with a namespace: ``api/types.py``.)

Each is an ``ObjectMeta`` (``api/meta.py``) whose ``Name`` and ``Namespace`` are its own (no spec to
copy them from); the store keys them by ``ID`` (Kubernetes' ``uid``) and makes ``(namespace, name)``
unique with an index key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from msgspec import field

from shoal.api.meta import Base, ObjectMeta

NAMESPACE_KIND = "Namespace"
ACTIVE, TERMINATING = "Active", "Terminating"
DEFAULT_NAMESPACE = "default"
# The namespaces every cluster has (``kube-system`` and the rest are made with the first API server).
BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Namespace(ObjectMeta):
    ID: str
    Phase: str = ACTIVE  # Active | Terminating (being emptied before it goes)


class EventSource(Base, omit_defaults=True):
    Component: str = ""
    Host: str = ""


class InvolvedObject(Base, omit_defaults=True):
    """What an event is about (Kubernetes' ``involvedObject``): ``ID`` is its uid."""

    Kind: str = ""
    Namespace: str = ""
    Name: str = ""
    ID: str = ""
    APIVersion: str = ""
    FieldPath: str = ""


class Event(ObjectMeta):
    """Something that happened to an object, in Kubernetes' words (``Scheduled``, ``Pulled``,
    ``FailedScheduling``, ...): written by the manager's controllers, read by ``kubectl describe`` and
    ``kubectl get events``. Repeats of one event bump ``Count`` and ``LastTimestamp``."""

    ID: str
    InvolvedObject: InvolvedObject = field(default_factory=InvolvedObject)
    Reason: str = ""
    Message: str = ""
    Type: str = "Normal"  # Normal | Warning
    Source: EventSource = field(default_factory=EventSource)
    Count: int = 1
    FirstTimestamp: str = ""
    LastTimestamp: str = ""


class ServiceAccount(ObjectMeta):
    """An identity for the processes of Pods (a ``default`` one per namespace). Its token is a JWT the
    manager signs; ``Secrets`` and ``ImagePullSecrets`` name Secrets of its namespace."""

    ID: str
    Secrets: list[str] | None = None
    ImagePullSecrets: list[str] | None = None
    AutomountServiceAccountToken: bool | None = None


# ---------------------------------------------------------------- what the Kubernetes API hands out


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change of a watched kind: ``type`` is ``ADDED``, ``MODIFIED`` or ``DELETED`` (Kubernetes'),
    ``obj`` the object after it (before it, for a deletion) and ``revision`` the store revision of the
    change (a Kubernetes ``resourceVersion``)."""

    type: str
    obj: Any
    revision: int


class ExecSession(Protocol):
    """One process started in a container of a Pod, already running (``kubectl exec``)."""

    async def write_stdin(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    def stdout(self) -> AsyncIterator[bytes]:
        """Its output until it closes it (with a TTY: stdout and stderr together)."""
        ...

    def stderr(self) -> AsyncIterator[bytes]: ...

    async def resize(self, width: int, height: int) -> None: ...

    async def wait(self) -> int:
        """Its exit code."""
        ...

    async def kill(self) -> None: ...
