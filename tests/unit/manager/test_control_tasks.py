"""The control API's task list filters: ``label`` matches the labels of the task's service, as SwarmKit's
(``docker stack ps`` lists a stack's tasks by ``com.docker.stack.namespace``)."""

from __future__ import annotations

from shoal.api.types import ContainerSpec, ServiceSpec, Task, TaskSpec, owner_of
from shoal.manager.manager import Manager
from shoal.manager.orchestrator.common import service_annotations

STACK = "com.docker.stack.namespace"


async def test_label_filter_matches_the_tasks_service_labels() -> None:
    m = await Manager.open(None)
    await m.init("node-1", "127.0.0.1:2377")
    template = TaskSpec(Containers=[ContainerSpec(Image="nginx")])
    web = await m.control.create_service(ServiceSpec(Name="app_web", Labels={STACK: "app"}, TaskTemplate=template))
    other = await m.control.create_service(ServiceSpec(Name="solo", TaskTemplate=template))
    for i, svc in enumerate((web, other)):
        # A task's own labels are not its service's: only the service's count.
        await m.store.create(Task(ID=f"task{i}", Owner=owner_of(svc), Slot=1, Labels={"own": "x"},
                                  ServiceAnnotations=service_annotations(svc), Spec=template))
    # A task made before its service's labels were kept with it: the service's labels now.
    await m.store.create(Task(ID="task-old", Owner=owner_of(web), Slot=2, Spec=template))
    assert sorted(t.ID for t in m.control.tasks({"label": [f"{STACK}=app"]})) == ["task-old", "task0"]
    assert sorted(t.ID for t in m.control.tasks({"label": [STACK]})) == ["task-old", "task0"]
    assert m.control.tasks({"label": [f"{STACK}=other"]}) == []
    assert m.control.tasks({"label": ["own=x"]}) == []
    assert len(m.control.tasks()) == 3
