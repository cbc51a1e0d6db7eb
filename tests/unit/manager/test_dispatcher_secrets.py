"""The dispatcher sends a node the secrets and configs of its tasks, with their assignments, and only
to that node: once per session, and their removal when no task there needs them any more."""

from __future__ import annotations

from shoal.api.states import TaskState
from shoal.api.types import (
    ConfigReference,
    ConfigSpec,
    ContainerSpec,
    NodeDescription,
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
    return Task(ID=tid, ServiceID="svc", NodeID=node, Status=TaskStatus(State=TaskState.ASSIGNED),
                Spec=TaskSpec(ContainerSpec=ContainerSpec(
                    Image="busybox", Secrets=[SecretReference(SecretID=i, SecretName=i) for i in secrets],
                    Configs=[ConfigReference(ConfigID=i, ConfigName=i) for i in configs])))


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
