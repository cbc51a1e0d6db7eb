"""The runtime boundary's shared helpers: the runtimes run one container per task and refuse more."""

from __future__ import annotations

import pytest

from shoal.api.types import ContainerSpec, Task, TaskSpec
from shoal.runtime.base import RuntimeError_, main_container
from shoal.runtime.hollow import HollowRuntime


def test_main_container_is_a_swarm_tasks_one() -> None:
    c = ContainerSpec(Name="main", Image="x")
    assert main_container(Task(ID="t", Spec=TaskSpec(Containers=[c]))) is c
    assert main_container(Task(ID="t")) is None


async def test_a_task_with_several_containers_is_refused() -> None:
    pod = Task(ID="p", Spec=TaskSpec(Containers=[ContainerSpec(Name="a", Image="x"), ContainerSpec(Name="b")]))
    with pytest.raises(RuntimeError_, match="one container per task, the task has 2") as e:
        await HollowRuntime().prepare(pod)
    assert e.value.reject
    init = Task(ID="p", Spec=TaskSpec(Containers=[ContainerSpec(Name="a", Image="x")],
                                      InitContainers=[ContainerSpec(Name="i", Image="y")]))
    with pytest.raises(RuntimeError_):
        main_container(init)
