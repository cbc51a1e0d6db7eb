"""The core's object API for the Kubernetes kinds: names per namespace, namespaces, graceful
deletion of Pods, watches by revision."""

from __future__ import annotations

import asyncio

import pytest

from shoal.api.errors import AlreadyExists, Conflict, Gone, NotFound, PermissionDenied
from shoal.api.kube import Namespace
from shoal.api.pod import PodSpecExtra
from shoal.api.states import TaskState
from shoal.api.types import ContainerSpec, Secret, SecretSpec, Task, TaskSpec, clone
from shoal.manager.kube.namespaces import NamespaceController
from shoal.manager.kube.objects import KubeObjects
from shoal.store.changelog import ChangeLog
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore


async def make() -> tuple[ObjectStore, KubeObjects]:
    store = ObjectStore(MemoryBackend())
    await store.load()
    kube = KubeObjects(store, ChangeLog(store, capacity=100))
    await kube.create(Namespace(ID="", Name="default"))
    return store, kube


def pod(name: str, ns: str = "default", **kw: object) -> Task:
    return Task(ID="", Name=name, Namespace=ns, Spec=TaskSpec(
        Containers=[ContainerSpec(Name="c", Image="busybox")], Pod=PodSpecExtra()), **kw)  # type: ignore[arg-type]


async def test_names_are_unique_per_namespace_and_kind() -> None:
    store, kube = await make()
    await kube.create(Namespace(ID="", Name="team-a"))
    a = await kube.create(pod("web"))
    await kube.create(pod("web", "team-a"))
    with pytest.raises(AlreadyExists, match='pods "web" already exists'):
        await kube.create(pod("web"))
    assert kube.get("tasks", "default", "web").ID == a.ID
    assert {t.Namespace for t in kube.list("tasks")} == {"default", "team-a"}
    assert [t.Namespace for t in kube.list("tasks", "team-a")] == ["team-a"]
    # A secret may share a Pod's name; a Swarm secret of that name is another object.
    await kube.create(Secret(ID="", Namespace="default", Spec=SecretSpec(Name="web", Items={"k": b"v"})))
    await store.create(Secret(ID="swarm1", Spec=SecretSpec(Name="web", Data=b"x")))
    assert [s.ID for s in kube.list("secrets")] != ["swarm1"]
    assert len(kube.list("secrets")) == 1


async def test_a_namespace_must_exist_and_be_active() -> None:
    _, kube = await make()
    with pytest.raises(NotFound, match='namespaces "nope" not found'):
        await kube.create(pod("x", "nope"))
    await kube.create(Namespace(ID="", Name="gone"))
    await kube.delete("namespaces", "", "gone")
    with pytest.raises(PermissionDenied, match="being terminated"):
        await kube.create(pod("x", "gone"))


async def test_generate_name() -> None:
    _, kube = await make()
    p = pod("")
    p.GenerateName = "web-"
    made = await kube.create(p)
    assert made.Name.startswith("web-") and len(made.Name) == 9


async def test_graceful_deletion_of_a_running_pod_and_at_once_of_a_pending_one() -> None:
    store, kube = await make()
    pending = await kube.create(pod("pending"))
    assert await kube.delete("tasks", "default", "pending") is None
    assert store.get(Task, pending.ID) is None
    running = await kube.create(pod("running"))
    t = clone(running)
    t.NodeID, t.Status.State = "n1", TaskState.RUNNING
    await store.update(t)
    left = await kube.delete("tasks", "default", "running", grace_seconds=5)
    assert left is not None and left.DeletionTimestamp and left.DeletionGracePeriodSeconds == 5
    assert left.DesiredState == TaskState.REMOVE
    assert left.Spec.Containers[0].StopGracePeriod == 5_000_000_000


async def test_stale_update_is_a_conflict() -> None:
    _, kube = await make()
    p = await kube.create(pod("p"))
    old = clone(p)
    p2 = clone(p)
    p2.Labels = {"a": "b"}
    await kube.update(p2)
    old.Labels = {"a": "c"}
    with pytest.raises(Conflict, match="the object has been modified"):
        await kube.update(old)


async def test_watch_from_a_revision_and_gone_past_the_history() -> None:
    _store, kube = await make()
    rev = kube.revision
    events = kube.watch("tasks", "default", rev)
    await kube.create(pod("a"))
    await kube.create(pod("b", "default"))
    await kube.delete("tasks", "default", "a")
    seen = [(e.type, e.obj.Name) for e in [await asyncio.wait_for(events.__anext__(), 2) for _ in range(3)]]
    assert seen == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]
    # From 0: what is there now, then the changes.
    fresh = kube.watch("tasks", "default", 0)
    first = await asyncio.wait_for(fresh.__anext__(), 2)
    assert (first.type, first.obj.Name) == ("ADDED", "b")
    for i in range(120):  # more than the log keeps
        await kube.create(pod(f"p{i}"))
    with pytest.raises(Gone, match="too old resource version"):
        kube.watch("tasks", "default", rev)


async def test_the_namespace_controller_makes_the_builtin_namespaces_and_empties_deleted_ones() -> None:
    store, kube = await make()
    ctl = NamespaceController(store, kube)
    await ctl.tick()
    assert {n.Name for n in kube.list("namespaces")} >= {"default", "kube-system", "kube-public", "kube-node-lease"}
    await ctl.tick()
    assert kube.get("serviceaccounts", "kube-system", "default")
    await kube.create(Namespace(ID="", Name="team-a"))
    await kube.create(pod("p", "team-a"))
    await kube.create(Secret(ID="", Namespace="team-a", Spec=SecretSpec(Name="s", Items={})))
    await kube.delete("namespaces", "", "team-a")
    await ctl.tick()  # empties it (the Pod never ran: gone at once)
    await ctl.tick()  # then deletes it
    with pytest.raises(NotFound):
        kube.get("namespaces", "", "team-a")
    assert kube.list("tasks", "team-a") == [] and kube.list("secrets", "team-a") == []


async def test_service_account_tokens_authenticate_and_are_mounted_in_pods() -> None:
    from shoal.api.types import Cluster, TLSInfo
    from shoal.manager.ca import new_root_ca
    from shoal.manager.kube.objects import SA_MOUNT

    store, kube = await make()
    ca, key = new_root_ca()
    await store.create(Cluster(ID="c1", TLSInfo=TLSInfo(TrustRoot=ca), RootCAKey=key))
    ctl = NamespaceController(store, kube)
    await ctl.tick()
    await ctl.tick()
    secret = kube.get("secrets", "default", "default-token")
    assert secret.Spec.Type == "kubernetes.io/service-account-token"
    assert kube.get("serviceaccounts", "default", "default").Secrets == ["default-token"]
    token = (secret.Spec.Items or {})["token"].decode()
    assert kube.authenticate(token) == ("system:serviceaccount:default:default",
                                        ["system:serviceaccounts", "system:serviceaccounts:default",
                                         "system:authenticated"])
    assert kube.authenticate(token[:-4] + "AAAA") is None
    p = await kube.create(pod("p"))
    vols = p.Spec.Pod.Volumes or []
    assert vols[0].Secret.SecretName == "default-token"
    assert [m.MountPath for m in p.Spec.Containers[0].Pod.VolumeMounts] == [SA_MOUNT]
    with pytest.raises(PermissionDenied, match='serviceaccount "robot" not found'):
        await kube.create(_pod_as("q", "robot"))
    # The account deleted: its token no longer works.
    await kube.delete("serviceaccounts", "default", "default")
    assert kube.authenticate(token) is None


def _pod_as(name: str, account: str) -> Task:
    p = pod(name)
    assert p.Spec.Pod is not None
    p.Spec.Pod.ServiceAccountName = account
    return p
