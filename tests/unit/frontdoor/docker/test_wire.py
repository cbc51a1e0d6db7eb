"""The Docker door's wire shapes: a service and a task in the core's shape encode, through the door, to the
very bytes main's encoder gave when the core was Docker's shape (``golden.py``); Docker's JSON converts to
the core and back unchanged; and a store written in the old shape loads into the new one."""

from __future__ import annotations

from typing import Any

import msgspec

from shoal.api import types as T
from shoal.api.meta import META_ONLY
from shoal.api.states import TaskState
from shoal.frontdoor.docker import app, gojson, wire
from shoal.manager.control import service_with_defaults
from shoal.store.backend import Put
from shoal.store.memory import MemoryBackend
from shoal.store.objects import PREFIX, ObjectStore
from tests.unit.frontdoor.docker import golden


def container() -> T.ContainerSpec:
    return T.ContainerSpec(
        Name=T.MAIN_CONTAINER, Image="nginx:1.25@sha256:" + "a" * 64, Labels={"l": "v"}, Command=["nginx"],
        Args=["-g", "daemon off;"], Hostname="{{.Service.Name}}-{{.Task.Slot}}", Env=["A=1", "B=2"], Dir="/srv",
        User="www", Groups=["adm"], Init=True, TTY=True, ReadOnly=True,
        Mounts=[T.Mount(Type="volume", Source="data", Target="/data", VolumeOptions={"Labels": {"x": "y"}})],
        StopSignal="SIGQUIT", StopGracePeriod=3_000_000_000,
        Healthcheck={"Test": ["CMD", "true"], "Interval": 1_000_000_000}, Hosts=["1.2.3.4 h"],
        DNSConfig={"Nameservers": ["9.9.9.9"]},
        Secrets=[T.SecretReference(File=T.FileTarget(Name="s", UID="0", GID="0", Mode=0o400), SecretID="sid",
                                   SecretName="s")],
        Configs=[T.ConfigReference(File=T.FileTarget(Name="/c", UID="0", GID="0", Mode=0o444), ConfigID="cid",
                                   ConfigName="c")],
        Sysctls={"net.core.somaxconn": "1024"}, CapabilityAdd=["NET_ADMIN"],
        Ulimits=[{"Name": "nofile", "Soft": 1, "Hard": 2}], OomScoreAdj=5,
        PullOptions=T.PullOptions(RegistryAuth="c2VjcmV0"))


def task_spec() -> T.TaskSpec:
    return T.TaskSpec(
        Containers=[container()],
        Resources=T.ResourceRequirements(Limits=T.Resources(NanoCPUs=500_000_000, MemoryBytes=1 << 28),
                                         Reservations=T.Resources(NanoCPUs=100_000_000)),
        RestartPolicy=T.RestartPolicy(Condition="on-failure", Delay=1, MaxAttempts=3, Window=2),
        Placement=T.Placement(Constraints=["node.role==worker"],
                              Preferences=[{"Spread": {"SpreadDescriptor": "node.labels.z"}}]),
        Networks=[T.NetworkAttachmentConfig(Target="nid", Aliases=["web"])],
        LogDriver={"Name": "json-file"}, ForceUpdate=2, Runtime="")


def service_spec() -> T.ServiceSpec:
    return T.ServiceSpec(
        Name="web", Labels={"a": "b"}, TaskTemplate=task_spec(),
        Mode=T.ServiceMode(Replicated=T.ReplicatedService(Replicas=3)),
        UpdateConfig=T.UpdateConfig(Parallelism=2, Delay=5, FailureAction="rollback", Monitor=7, MaxFailureRatio=0.5,
                                    Order="start-first"),
        EndpointSpec=T.EndpointSpec(Mode="vip", Ports=[T.PortConfig(TargetPort=80, PublishedPort=8080)]))


def service() -> T.Service:
    return T.Service(
        ID="svc1", Version=T.Version(Index=12), CreatedAt="2026-12-04T10:00:00.000000001Z",
        UpdatedAt="2026-12-04T10:00:01.000000002Z", Spec=service_spec(), PreviousSpec=service_spec(),
        Endpoint=T.Endpoint(Spec=T.EndpointSpec(), Ports=[T.PortConfig(TargetPort=80, PublishedPort=8080)],
                            VirtualIPs=[{"NetworkID": "nid", "Addr": "10.0.0.2/24"}]),
        UpdateStatus=T.UpdateStatus(State="completed", StartedAt="s", CompletedAt="c", Message="m"),
        SpecVersion=T.Version(Index=4))


def task() -> T.Task:
    net = T.Network(ID="nid", Spec=T.NetworkSpec(Name="front"))
    return T.Task(
        ID="task1", Version=T.Version(Index=20), CreatedAt="2026-12-04T10:00:02.000000003Z", UpdatedAt="u",
        Spec=task_spec(), SpecVersion=T.Version(Index=4), Slot=2, NodeID="node1",
        Owner=T.ObjectRef(Kind=T.SERVICE_KIND, ID="svc1", Name="web"),
        Status=T.TaskStatus(
            Timestamp="2026-12-04T10:00:03.000000004Z", State=TaskState.RUNNING, Message="started",
            Containers=[T.ContainerStatus(Name=T.MAIN_CONTAINER, ContainerID="cid", PID=42, State="running",
                                          Ready=True)]),
        NetworksAttachments=[T.NetworkAttachment(Network=net, Addresses=["10.0.0.5/24"])],
        GenericResources=[T.GenericResource(DiscreteResourceSpec={"Kind": "gpu", "Value": 1})],
        Endpoint=T.Endpoint(Spec=T.EndpointSpec()), ServiceAnnotations={"Name": "web", "Labels": {"a": "b"}})


class _Control:
    """What ``service_json`` asks of the control API."""

    @staticmethod
    def service_status(s: T.Service) -> T.ServiceStatus:
        return T.ServiceStatus(RunningTasks=2, DesiredTasks=3, CompletedTasks=0)

    @staticmethod
    def with_defaults(s: T.Service) -> T.Service:
        return service_with_defaults(s)


_Manager: Any = _Control  # service_json takes the control API


def test_service_json_is_byte_for_byte_what_main_sent() -> None:
    assert msgspec.json.encode(app.service_json(_Manager, service(), status=True)) == golden.SERVICE
    assert msgspec.json.encode(app.service_json(_Manager, service(), defaults=True)) == golden.SERVICE_DEFAULTS


def test_task_json_is_byte_for_byte_what_main_sent() -> None:
    assert msgspec.json.encode(app.task_json(task())) == golden.TASK
    tasks = gojson.to_json(wire.tasks_from_core([task(), task()]), list[wire.Task])
    assert msgspec.json.encode(tasks) == b"[" + golden.TASK + b"," + golden.TASK + b"]"


def test_registry_credentials_are_never_shown_but_reach_the_core() -> None:
    assert b"c2VjcmV0" not in msgspec.json.encode(app.service_json(_Manager, service()))
    docker = msgspec.json.decode(golden.STORED_SERVICE, type=wire.Service)  # the old store kept them
    spec = wire.service_spec_to_core(docker.Spec)
    assert spec.TaskTemplate.Containers[0].PullOptions == T.PullOptions(RegistryAuth="c2VjcmV0")


def test_docker_spec_to_core_and_back() -> None:
    body: dict[str, Any] = {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Env": ["A=1"]},
                                                            "Resources": {"Limits": {"MemoryBytes": 5}}}}
    spec = wire.service_spec_to_core(msgspec.json.decode(msgspec.json.encode(body), type=wire.ServiceSpec))
    (c,) = spec.TaskTemplate.Containers
    assert c.Name == T.MAIN_CONTAINER and c.Image == "busybox" and c.Env == ["A=1"]
    assert spec.TaskTemplate.Resources is not None and spec.TaskTemplate.Resources.Limits is not None
    assert spec.TaskTemplate.Resources.Limits.MemoryBytes == 5
    back = wire.service_spec_from_core(spec)
    shown = msgspec.json.decode(msgspec.json.encode(body), type=wire.ServiceSpec)
    assert shown.TaskTemplate.ContainerSpec is not None
    shown.TaskTemplate.ContainerSpec.Isolation, shown.TaskTemplate.Runtime = "default", "container"  # as dockerd
    assert back == shown
    assert wire.service_spec_to_core(back) == spec  # and what dockerd shows reads back the same
    # no ContainerSpec (a spec Docker would reject): no containers, and back to null
    empty = wire.service_spec_to_core(wire.ServiceSpec(Name="x"))
    assert empty.TaskTemplate.Containers == [] and wire.service_spec_from_core(empty).TaskTemplate.ContainerSpec is None


def test_a_task_with_several_containers_shows_its_first() -> None:
    t = task()
    t.Spec = T.TaskSpec(Containers=[T.ContainerSpec(Name="app", Image="a"), T.ContainerSpec(Name="side", Image="b")])
    t.Status.Containers = [T.ContainerStatus(Name="app", ContainerID="c1", PID=1),
                           T.ContainerStatus(Name="side", ContainerID="c2", PID=2)]
    out = wire.task_from_core(t)
    assert out.Spec.ContainerSpec is not None and out.Spec.ContainerSpec.Image == "a"
    assert out.Status.ContainerStatus == wire.ContainerStatus(ContainerID="c1", PID=1)


def test_owner_that_is_not_a_service_has_no_service_id() -> None:
    t = task()
    t.Owner = T.ObjectRef(Kind="ReplicaSet", ID="rs1", Name="web-abc")
    assert wire.task_from_core(t).ServiceID == ""


def test_docker_task_to_core() -> None:
    t = wire.task_to_core(msgspec.json.decode(golden.STORED_TASK, type=wire.Task))
    want = task()
    assert t.Owner == T.ObjectRef(Kind=T.SERVICE_KIND, ID="svc1", Name="web")
    assert t.Spec == want.Spec
    assert t.Status.Containers == [T.ContainerStatus(Name=T.MAIN_CONTAINER, ContainerID="cid", PID=42)]


# ---------------------------------------------------------------- a store written before


async def test_a_store_written_in_the_old_shape_loads() -> None:
    backend = MemoryBackend()
    await backend.txn([], [Put(PREFIX + "services/svc1", golden.STORED_SERVICE),
                           Put(PREFIX + "tasks/task1", golden.STORED_TASK)])
    store = ObjectStore(backend)
    await store.load()
    (t,) = store.tasks_of_owner("svc1")
    want = task()
    assert t.Owner == want.Owner and t.Spec == want.Spec
    assert t.Status.Containers == [T.ContainerStatus(Name=T.MAIN_CONTAINER, ContainerID="cid", PID=42)]
    s = store.get(T.Service, "svc1")
    assert s is not None and s.Spec == service_spec() and s.PreviousSpec == service_spec()
    # and it is written back in the new shape
    await store.commit(updates=[t])
    kvs, _ = await backend.range(PREFIX + "tasks/")
    raw = msgspec.json.decode(kvs[0].value)
    assert "ServiceID" not in raw and raw["Owner"]["ID"] == "svc1" and raw["Spec"]["Containers"][0]["Image"]


def test_old_shape_decodes_without_the_store() -> None:
    t = T.decode(T.Task, golden.STORED_TASK)
    assert t.Owner.ID == "svc1" and t.Spec.Containers[0].Name == T.MAIN_CONTAINER
    new = T.decode(T.Task, T.encode(task()))  # the new shape is read as written
    assert new == task()


# ---------------------------------------------------------------- the other kinds, now with ObjectMeta


def test_objects_with_metadata_show_only_dockers_fields() -> None:
    node = T.Node(ID="node1", Version=T.Version(Index=3), CreatedAt="c", UpdatedAt="u",
                  Spec=T.NodeSpec(Name="n1", Labels={"zone": "a"}, Role="manager", Availability="active"),
                  Description=T.NodeDescription(Hostname="h1", Platform=T.Platform(Architecture="x86_64", OS="linux"),
                                                Resources=T.Resources(NanoCPUs=2_000_000_000, MemoryBytes=1 << 30)),
                  Status=T.NodeStatus(State="ready", Addr="127.0.0.1"),
                  ManagerStatus=T.ManagerStatus(Leader=True, Reachability="reachable", Addr="127.0.0.1:2377"),
                  # what Docker does not show
                  Name="n1", Labels={"zone": "a"}, Namespace="ns", Annotations={"k": "v"}, Generation=7,
                  ObservedGeneration=6, Owner=T.ObjectRef(Kind="X", ID="x"), Finalizers=["f"])
    assert msgspec.json.encode(wire.object_json(node)) == golden.NODE
    secret = T.Secret(ID="sec1", Version=T.Version(Index=4), CreatedAt="c", UpdatedAt="u", Name="db", Generation=1,
                      Spec=T.SecretSpec(Name="db", Labels={"a": "b"}))
    assert msgspec.json.encode(wire.object_json(secret)) == golden.SECRET
    config = T.Config(ID="cfg1", Version=T.Version(Index=5), CreatedAt="c", UpdatedAt="u", Generation=2,
                      Spec=T.ConfigSpec(Name="site", Data=b"hello"))
    assert msgspec.json.encode(wire.object_json(config)) == golden.CONFIG


def test_the_cluster_shows_neither_its_keys_nor_its_metadata() -> None:
    cluster = T.Cluster(ID="cl1", Version=T.Version(Index=6), CreatedAt="c", UpdatedAt="u", Spec=T.ClusterSpec(),
                        RootCAKey="KEY", UnlockKey="UNLOCK", JoinTokens=T.JoinTokens(Worker="w", Manager="m"),
                        Name="default", Generation=3)

    class Control:
        @staticmethod
        def cluster_view() -> T.Cluster:  # the core's view leaves the keys empty; the door drops them too
            return cluster

    assert msgspec.json.encode(app.cluster_json(Control)) == golden.CLUSTER  # type: ignore[arg-type]


def test_services_and_tasks_with_metadata_show_only_dockers_fields() -> None:
    s, t = service(), task()
    s.Name, s.Labels, s.Generation, s.Namespace = "web", {"a": "b"}, 5, "ns"
    t.Generation, t.Annotations = 2, {"k": "v"}
    assert msgspec.json.encode(app.service_json(_Manager, s, status=True)) == golden.SERVICE
    assert msgspec.json.encode(app.task_json(t)) == golden.TASK


def test_a_nodes_attachments_show_their_network_without_metadata() -> None:
    net = T.Network(ID="ing", Name="ingress", Generation=2, Spec=T.NetworkSpec(Name="ingress", Ingress=True))
    node = T.Node(ID="n", Generation=1, Attachments=[T.NetworkAttachment(Network=net, Addresses=["10.0.0.2/24"])])
    plain = T.Node(ID="n", Attachments=[T.NetworkAttachment(Network=T.Network(
        ID="ing", Spec=T.NetworkSpec(Name="ingress", Ingress=True)), Addresses=["10.0.0.2/24"])])
    want = gojson.to_json(plain)
    want["Spec"].pop("Taints", None)  # Kubernetes' only: Docker's node has none
    want["Description"].pop("System", None)  # (Kubernetes' nodeInfo)
    for k in (*META_ONLY, "Name", "Labels"):
        want.pop(k, None)
        want["Attachments"][0]["Network"].pop(k, None)
    assert wire.object_json(node) == want


# ---------------------------------------------------------------- taints and tolerations (Kubernetes')


def test_taints_and_tolerations_never_show_at_the_docker_door() -> None:
    tolerations = [T.Toleration(Key="dedicated", Operator="Equal", Value="gpu", Effect="NoSchedule"),
                   T.Toleration(Operator="Exists", Effect="NoExecute", TolerationSeconds=30)]
    s, t = service(), task()
    for spec in (s.Spec.TaskTemplate, s.PreviousSpec.TaskTemplate, t.Spec):  # type: ignore[union-attr]
        assert spec.Placement is not None
        spec.Placement.Tolerations = tolerations
    assert msgspec.json.encode(app.service_json(_Manager, s, status=True)) == golden.SERVICE
    assert msgspec.json.encode(app.task_json(t)) == golden.TASK
    node = T.Node(ID="node1", Version=T.Version(Index=3), CreatedAt="c", UpdatedAt="u",
                  Spec=T.NodeSpec(Name="n1", Labels={"zone": "a"}, Role="manager", Availability="active",
                                  Taints=[T.Taint(Key="dedicated", Value="gpu", Effect="NoSchedule")]),
                  Description=T.NodeDescription(Hostname="h1", Platform=T.Platform(Architecture="x86_64", OS="linux"),
                                                Resources=T.Resources(NanoCPUs=2_000_000_000, MemoryBytes=1 << 30)),
                  Status=T.NodeStatus(State="ready", Addr="127.0.0.1"),
                  ManagerStatus=T.ManagerStatus(Leader=True, Reachability="reachable", Addr="127.0.0.1:2377"),
                  Name="n1", Labels={"zone": "a"})
    assert msgspec.json.encode(wire.object_json(node)) == golden.NODE


def test_docker_cannot_set_tolerations() -> None:
    body = msgspec.json.encode(wire.task_spec_from_core(task_spec()))
    raw = msgspec.json.decode(body)
    raw["Placement"]["Tolerations"] = [{"Operator": "Exists"}]
    core = wire.task_spec_to_core(msgspec.json.decode(msgspec.json.encode(raw), type=wire.TaskSpec))
    assert core.Placement is not None and core.Placement.Tolerations is None
    assert core.Placement == task_spec().Placement
    assert wire.placement_to_core(None) is None and wire.placement_from_core(None) is None


def test_a_nodes_system_is_kubernetes_only() -> None:
    node = T.Node(ID="n", Description=T.NodeDescription(System=T.NodeSystem(KernelVersion="6.1", Runtime="runc")))
    assert "System" not in wire.object_json(node)["Description"]
