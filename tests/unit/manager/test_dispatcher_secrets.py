"""The dispatcher sends a node the secrets and configs of its tasks, with their assignments, and only
to that node: once per session, and their removal when no task there needs them any more."""

from __future__ import annotations

from shoal.api.states import TaskState
from shoal.api.types import (
    ConfigReference,
    ConfigSpec,
    ContainerSpec,
    NodeDescription,
    ObjectRef,
    SecretReference,
    SecretSpec,
    Task,
    TaskSpec,
    TaskStatus,
    clone,
)
from shoal.manager.control import ControlAPI
from shoal.manager.dispatcher import Dispatcher, Session
from shoal.protocol import Assignments

from ..helpers import memory_store


def drain(s: Session) -> Assignments:
    """Everything queued for the session so far, merged as the session merges it."""
    msg = Assignments()
    while not s.queue.empty():
        more = s.queue.get_nowait()
        assert more is not None
        msg.tasks += more.tasks
        msg.removed += more.removed
        msg.full = msg.full or more.full
        msg.merge_dependencies(more)
    return msg


def task(tid: str, node: str, secrets: list[str], configs: tuple[str, ...] = ()) -> Task:
    return Task(ID=tid, Owner=ObjectRef(Kind="Service", ID="svc"), NodeID=node,
                Status=TaskStatus(State=TaskState.ASSIGNED),
                Spec=TaskSpec(Containers=[ContainerSpec(
                    Image="busybox", Secrets=[SecretReference(SecretID=i, SecretName=i) for i in secrets],
                    Configs=[ConfigReference(ConfigID=i, ConfigName=i) for i in configs])]))


async def test_only_the_nodes_that_run_a_task_get_its_secrets() -> None:
    store = await memory_store()
    api = ControlAPI(store)
    s1 = await api.secrets.create(SecretSpec(Name="db", Data=b"s3cret"))
    s2 = await api.secrets.create(SecretSpec(Name="api", Data=b"k3y"))
    c1 = await api.configs.create(ConfigSpec(Name="site", Data=b"conf"))
    d = Dispatcher(store)
    n1 = await d.register("n1", NodeDescription(Hostname="n1"), "10.0.0.1")
    n2 = await d.register("n2", NodeDescription(Hostname="n2"), "10.0.0.2")
    assert drain(n1).secrets == []

    await store.commit(creates=[task("t1", "n1", [s1.ID], [c1.ID]), task("t2", "n1", [s1.ID])])
    got = drain(n1)
    assert [s.ID for s in got.secrets] == [s1.ID] and got.secrets[0].Spec.Data == b"s3cret"  # once
    assert [c.ID for c in got.configs] == [c1.ID]
    assert drain(n2).secrets == []  # n2 runs nothing that uses it

    await store.commit(creates=[task("t3", "n2", [s2.ID])])
    assert [s.ID for s in drain(n2).secrets] == [s2.ID]
    assert drain(n1).secrets == []

    # t1 is shut down: the config goes (no other task of n1 uses it), the secret stays (t2 uses it).
    t1 = clone(store.get(Task, "t1"))
    t1.DesiredState = TaskState.SHUTDOWN
    await store.commit(updates=[t1])
    got = drain(n1)
    assert got.deps_removed == [c1.ID] and got.secrets == []
    await store.commit(deletes=[store.get(Task, "t1"), store.get(Task, "t2")])
    assert drain(n1).deps_removed == [s1.ID]

    # A new session (the agent reconnected) gets what its tasks need with the full assignment.
    n2 = await d.register("n2", NodeDescription(Hostname="n2"), "10.0.0.2")
    full = drain(n2)
    assert full.full and [s.ID for s in full.secrets] == [s2.ID]
    await d.stop()


def test_a_later_removal_wins_over_an_earlier_send_and_back() -> None:
    from shoal.api.types import Secret

    sec = Secret(ID="s", Spec=SecretSpec(Name="x", Data=b"1"))
    msg = Assignments(secrets=[sec])
    msg.merge_dependencies(Assignments(deps_removed=["s"]))
    assert msg.secrets == [] and msg.deps_removed == ["s"]
    msg.merge_dependencies(Assignments(secrets=[sec]))
    assert msg.secrets == [sec] and msg.deps_removed == []


def pod_task(tid: str, node: str, namespace: str = "default") -> Task:
    """A Pod's task that names a Secret in a volume and a ConfigMap in its environment."""
    from shoal.api.pod import EnvFromSource, PodContainer, PodSpecExtra, SecretVolume, Volume

    return Task(ID=tid, Name=tid, Namespace=namespace, NodeID=node, Status=TaskStatus(State=TaskState.ASSIGNED),
                Spec=TaskSpec(Containers=[ContainerSpec(Name="app", Image="busybox", Pod=PodContainer(
                    EnvFrom=[EnvFromSource(ConfigMapName="settings")]))],
                    Pod=PodSpecExtra(Volumes=[Volume(Name="v", Secret=SecretVolume(SecretName="creds"))])))


async def test_a_pods_secrets_and_configmaps_go_by_name_in_its_namespace_to_its_node_only() -> None:
    from shoal.api.types import Config, Secret

    store = await memory_store()
    creds = Secret(ID="sec-default", Namespace="default", Spec=SecretSpec(Name="creds", Items={"pw": b"x"}))
    other = Secret(ID="sec-other", Namespace="other", Spec=SecretSpec(Name="creds", Items={"pw": b"y"}))
    await store.commit(creates=[creds, other])
    d = Dispatcher(store)
    n1 = await d.register("n1", NodeDescription(Hostname="n1"), "10.0.0.1")
    n2 = await d.register("n2", NodeDescription(Hostname="n2"), "10.0.0.2")
    drain(n1), drain(n2)

    await store.commit(creates=[pod_task("p1", "n1")])
    got = drain(n1)
    assert [s.ID for s in got.secrets] == ["sec-default"]  # the one of the Pod's namespace
    assert got.configs == []  # the ConfigMap does not exist yet
    assert drain(n2).secrets == []

    # The ConfigMap made later reaches the node whose Pod waits for it, and only that one.
    settings = Config(ID="cfg", Namespace="default", Spec=ConfigSpec(Name="settings", Items={"color": "blue"}))
    await store.commit(creates=[settings])
    assert [c.ID for c in drain(n1).configs] == ["cfg"]
    assert drain(n2).configs == []

    await store.commit(deletes=[store.get(Task, "p1")])
    assert sorted(drain(n1).deps_removed) == ["cfg", "sec-default"]
    await d.stop()
