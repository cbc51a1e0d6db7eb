"""The core task model's helpers: a task's containers, its summed resources, its owner."""

from __future__ import annotations

from shoal.api.types import (
    SERVICE_KIND,
    ContainerSpec,
    GenericResource,
    ObjectRef,
    ResourceRequirements,
    Resources,
    Service,
    ServiceSpec,
    Task,
    TaskSpec,
    containers_of,
    decode,
    encode,
    first_container,
    owner_of,
    service_id_of,
    summed,
)


def test_containers_of_puts_init_containers_first() -> None:
    a, b, i = ContainerSpec(Name="a"), ContainerSpec(Name="b"), ContainerSpec(Name="init")
    spec = TaskSpec(Containers=[a, b])
    assert containers_of(spec) is spec.Containers  # no copy for a task without init containers
    assert containers_of(TaskSpec(Containers=[a, b], InitContainers=[i])) == [i, a, b]
    assert first_container(spec) is a and first_container(TaskSpec()) is None


def test_summed_adds_the_containers_requirements() -> None:
    gpu = GenericResource(DiscreteResourceSpec={"Kind": "gpu", "Value": 1})
    a = ContainerSpec(Name="a", Resources=ResourceRequirements(
        Limits=Resources(NanoCPUs=100, MemoryBytes=10), Reservations=Resources(NanoCPUs=50, GenericResources=[gpu])))
    b = ContainerSpec(Name="b", Resources=ResourceRequirements(Reservations=Resources(NanoCPUs=25, MemoryBytes=5)))
    c = ContainerSpec(Name="c")
    got = summed([a, b, c])
    assert got == ResourceRequirements(Limits=Resources(NanoCPUs=100, MemoryBytes=10),
                                       Reservations=Resources(NanoCPUs=75, MemoryBytes=5, GenericResources=[gpu]))
    assert summed([c]) is None
    assert summed([a]) == a.Resources  # one container: its own


def test_a_service_owns_its_tasks() -> None:
    s = Service(ID="s1", Spec=ServiceSpec(Name="web"))
    ref = owner_of(s)
    assert ref == ObjectRef(Kind=SERVICE_KIND, ID="s1", Name="web")
    assert service_id_of(Task(ID="t", Owner=ref)) == "s1"
    assert service_id_of(Task(ID="t", Owner=ObjectRef(Kind="ReplicaSet", ID="rs"))) == ""


def test_decoded_tasks_of_one_owner_share_its_reference() -> None:
    ref = ObjectRef(Kind=SERVICE_KIND, ID="s1", Name="web")
    a, b = (decode(Task, encode(Task(ID=i, Owner=ref))) for i in ("a", "b"))
    assert a.Owner == ref and a.Owner is b.Owner
    renamed = decode(Task, encode(Task(ID="c", Owner=ObjectRef(Kind=SERVICE_KIND, ID="s1", Name="www"))))
    assert renamed.Owner.Name == "www" and a.Owner.Name == "web"
