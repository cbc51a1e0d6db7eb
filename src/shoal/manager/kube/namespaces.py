"""The namespace controller (the leader's): every cluster has the namespaces ``default``,
``kube-system``, ``kube-public`` and ``kube-node-lease``, and every active namespace a ``default``
ServiceAccount; a namespace marked ``Terminating`` (deleted) is emptied — its Pods deleted
gracefully, everything else at once — and deleted itself once nothing is left in it.
"""

from __future__ import annotations

import logging

from shoal.api.errors import AlreadyExists, Conflict, NotFound
from shoal.api.kube import ACTIVE, BUILTIN_NAMESPACES, Namespace, ServiceAccount
from shoal.manager.kube.objects import NAMESPACED, KubeObjects
from shoal.manager.loop import Loop
from shoal.store.objects import Change, ObjectStore

log = logging.getLogger(__name__)

DEFAULT_SERVICE_ACCOUNT = "default"


class NamespaceController(Loop):
    name = "namespaces"
    debounce = 0.05

    def __init__(self, store: ObjectStore, kube: KubeObjects) -> None:
        super().__init__()
        self.store = store
        self.kube = kube

    def start(self) -> None:
        self._unsubscribe = self.store.subscribe(self.on_change)
        super().start()
        self.kick()

    def on_change(self, ch: Change) -> None:
        if ch.kind == "namespaces" or (ch.kind in NAMESPACED and ch.new is None):
            self.kick()

    async def tick(self) -> None:
        have = {n.Name for n in self.store.list(Namespace)}
        for name in BUILTIN_NAMESPACES:
            if name not in have:
                try:
                    await self.kube.create(Namespace(ID="", Name=name, Labels={"kubernetes.io/metadata.name": name}))
                except AlreadyExists:
                    pass
        for ns in self.store.list(Namespace):
            if ns.Phase == ACTIVE:
                await self._ensure_service_account(ns.Name)
            else:
                await self._empty(ns)

    async def _ensure_service_account(self, ns: str) -> None:
        try:
            self.kube.get("serviceaccounts", ns, DEFAULT_SERVICE_ACCOUNT)
        except NotFound:
            try:
                await self.kube.create(ServiceAccount(ID="", Name=DEFAULT_SERVICE_ACCOUNT, Namespace=ns))
            except (AlreadyExists, NotFound):
                pass

    async def _empty(self, ns: Namespace) -> None:
        left = 0
        for kind in NAMESPACED:
            for obj in self.kube.list(kind, ns.Name):
                left += 1
                try:
                    name = obj.Name if kind in ("tasks", "events", "serviceaccounts") else obj.Spec.Name
                    await self.kube.delete(kind, ns.Name, name)
                except (NotFound, Conflict):
                    pass
        if not left:
            try:
                await self.store.commit(deletes=[ns])
            except Conflict:
                self.kick()
