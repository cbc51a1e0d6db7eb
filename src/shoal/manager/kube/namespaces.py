"""The namespace controller (the leader's): every cluster has the namespaces ``default``,
``kube-system``, ``kube-public`` and ``kube-node-lease``, every active namespace a ``default``
ServiceAccount, and every ServiceAccount its token Secret (``tokens.py``). A namespace marked
``Terminating`` (deleted) is emptied (its Pods deleted gracefully, everything else at once) and is
deleted itself once nothing is left in it (nor any finalizer in its metadata).
"""

from __future__ import annotations

import logging

from shoal.api.errors import AlreadyExists, Conflict, NotFound
from shoal.api.kube import ACTIVE, BUILTIN_NAMESPACES, Namespace, ServiceAccount
from shoal.api.types import Cluster, Secret, SecretSpec, clone
from shoal.manager.kube import tokens
from shoal.manager.kube.objects import NAMESPACED, KubeObjects, object_name
from shoal.manager.loop import Loop
from shoal.store.objects import Change, ObjectStore

log = logging.getLogger(__name__)

DEFAULT_SERVICE_ACCOUNT = "default"
TOKEN_TYPE = "kubernetes.io/service-account-token"


def token_secret_name(account: str) -> str:
    return f"{account}-token"


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
        if ch.kind in ("namespaces", "serviceaccounts") or (ch.kind in NAMESPACED and ch.new is None):
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
        for sa in self.store.list(ServiceAccount):
            await self._ensure_token(sa)

    async def _ensure_service_account(self, ns: str) -> None:
        try:
            self.kube.get("serviceaccounts", ns, DEFAULT_SERVICE_ACCOUNT)
        except NotFound:
            try:
                await self.kube.create(ServiceAccount(ID="", Name=DEFAULT_SERVICE_ACCOUNT, Namespace=ns))
            except (AlreadyExists, NotFound):
                pass

    async def _ensure_token(self, sa: ServiceAccount) -> None:
        """The account's token Secret (``<account>-token``: ``token``, ``ca.crt``, ``namespace``),
        named in the account's ``Secrets``."""
        name = token_secret_name(sa.Name)
        try:
            have = self.kube.get("secrets", sa.Namespace, name)
            if (have.Annotations or {}).get("kubernetes.io/service-account.uid") == sa.ID:
                if sa.Secrets != [name]:
                    sa = clone(sa)
                    sa.Secrets = [name]
                    await self.kube.update(sa)
                return
            await self.kube.delete("secrets", sa.Namespace, name)  # an account of that name deleted before
        except NotFound:
            pass
        clusters = self.store.list(Cluster)
        if not clusters or not clusters[0].RootCAKey:
            return
        c = clusters[0]
        token = tokens.sign(c.RootCAKey, sa.Namespace, sa.Name, sa.ID)
        secret = Secret(ID="", Namespace=sa.Namespace, Annotations={
            "kubernetes.io/service-account.name": sa.Name, "kubernetes.io/service-account.uid": sa.ID},
            Spec=SecretSpec(Name=name, Type=TOKEN_TYPE, Items={
                "token": token.encode(), "ca.crt": c.TLSInfo.TrustRoot.encode(), "namespace": sa.Namespace.encode()}))
        try:
            await self.kube.create(secret)
        except (AlreadyExists, NotFound):
            pass

    async def _empty(self, ns: Namespace) -> None:
        left = 0
        for kind in NAMESPACED:
            for obj in self.kube.list(kind, ns.Name):
                left += 1
                try:
                    await self.kube.delete(kind, ns.Name, object_name(kind, obj))
                except (NotFound, Conflict):
                    pass
        if not left and not ns.Finalizers:  # (its metadata's finalizers keep it too, until removed)
            try:
                await self.store.commit(deletes=[ns])
            except Conflict:
                self.kick()
