"""A Pod's environment and volume files as the kubelet makes them (``agent/podenv.py``)."""

from __future__ import annotations

import pytest

from shoal.agent.podenv import (
    CONFIG_ERROR,
    CONTAINER_CREATING,
    ConfigError,
    PodFields,
    argv,
    environment,
    expand,
    volume_files,
)
from shoal.api.pod import (
    ConfigMapVolume,
    DownwardAPIFile,
    DownwardAPIVolume,
    EnvFromSource,
    EnvVarRef,
    KeyRef,
    KeyToPath,
    ObjectFieldRef,
    PodContainer,
    PodSpecExtra,
    ProjectedSource,
    ProjectedVolume,
    ResourceFieldRef,
    SecretVolume,
    Volume,
)
from shoal.api.types import (
    Config,
    ConfigSpec,
    ContainerSpec,
    ResourceRequirements,
    Resources,
    Secret,
    SecretSpec,
    Task,
    TaskSpec,
)


class Objects:
    def __init__(self) -> None:
        self.secrets = {("ns", "creds"): Secret(ID="s", Namespace="ns", Spec=SecretSpec(
            Name="creds", Items={"pw": b"hunter2", "user": b"admin", "bad-name!": b"x"}))}
        self.configs = {("ns", "cfg"): Config(ID="c", Namespace="ns", Spec=ConfigSpec(
            Name="cfg", Items={"color": "blue"}, BinaryItems={"blob": b"\x00\x01"}))}

    def secret(self, namespace: str, name: str) -> Secret | None:
        return self.secrets.get((namespace, name))

    def config(self, namespace: str, name: str) -> Config | None:
        return self.configs.get((namespace, name))


FIELDS = PodFields(node_name="node-1", pod_ip="10.0.0.5", host_ip="192.168.1.2", node_cpus=4_000_000_000,
                   node_memory=8 << 30)


def task(*containers: ContainerSpec, volumes: list[Volume] | None = None) -> Task:
    return Task(ID="uid-1", Name="web", Namespace="ns", Labels={"app": "web"}, Annotations={"a": "b"},
                Spec=TaskSpec(Containers=list(containers),
                              Pod=PodSpecExtra(Volumes=volumes, ServiceAccountName="robot")))


@pytest.mark.parametrize(("text", "want"), [
    ("$(A)", "1"), ("x$(A)y$(B)", "x1y2"), ("$$(A)", "$(A)"), ("$$", "$"), ("$(NOPE)", "$(NOPE)"),
    ("$(A", "$(A"), ("$A", "$A"), ("cost $", "cost $"), ("$()", "$()"), ("$$$(A)", "$1"),
])
def test_expansion_as_kubernetes_does_it(text: str, want: str) -> None:
    assert expand(text, {"A": "1", "B": "2"}) == want


def test_env_from_then_env_then_value_from() -> None:
    c = ContainerSpec(Name="app", Env=["GREETING=hi $(S_user)", "LATER=$(FROM_REF)"], Pod=PodContainer(
        EnvFrom=[EnvFromSource(SecretName="creds", Prefix="S_"), EnvFromSource(ConfigMapName="cfg")],
        EnvRefs=[
            EnvVarRef(Name="FROM_REF", SecretKeyRef=KeyRef(Name="creds", Key="pw")),
            EnvVarRef(Name="NAME", FieldRef=ObjectFieldRef(FieldPath="metadata.name")),
            EnvVarRef(Name="NS", FieldRef=ObjectFieldRef(FieldPath="metadata.namespace")),
            EnvVarRef(Name="UID", FieldRef=ObjectFieldRef(FieldPath="metadata.uid")),
            EnvVarRef(Name="LABEL", FieldRef=ObjectFieldRef(FieldPath="metadata.labels['app']")),
            EnvVarRef(Name="ANN", FieldRef=ObjectFieldRef(FieldPath="metadata.annotations['a']")),
            EnvVarRef(Name="NODE", FieldRef=ObjectFieldRef(FieldPath="spec.nodeName")),
            EnvVarRef(Name="SA", FieldRef=ObjectFieldRef(FieldPath="spec.serviceAccountName")),
            EnvVarRef(Name="IP", FieldRef=ObjectFieldRef(FieldPath="status.podIP")),
            EnvVarRef(Name="HOST", FieldRef=ObjectFieldRef(FieldPath="status.hostIP")),
            EnvVarRef(Name="COLOR", ConfigMapKeyRef=KeyRef(Name="cfg", Key="color")),
            EnvVarRef(Name="GONE", ConfigMapKeyRef=KeyRef(Name="nope", Key="x", Optional=True)),
            EnvVarRef(Name="CPU", ResourceFieldRef=ResourceFieldRef(Resource="limits.cpu")),
            EnvVarRef(Name="MEM", ResourceFieldRef=ResourceFieldRef(Resource="limits.memory", Divisor="1Mi")),
            EnvVarRef(Name="REQ", ResourceFieldRef=ResourceFieldRef(Resource="requests.cpu", Divisor="1m")),
        ]))
    c.Resources = ResourceRequirements(Limits=Resources(MemoryBytes=100 << 20),
                                       Reservations=Resources(NanoCPUs=250_000_000))
    env = environment(task(c), c, Objects(), FIELDS)
    got = dict(e.partition("=")[::2] for e in env)
    assert "S_bad-name!" not in got  # not a variable name: skipped
    assert got["S_pw"] == "hunter2" and got["color"] == "blue" and got["blob"] == "\x00\x01"
    assert got["GREETING"] == "hi admin"
    assert got["LATER"] == "$(FROM_REF)"  # valueFrom comes after the plain env
    assert got["FROM_REF"] == "hunter2"
    assert (got["NAME"], got["NS"], got["UID"], got["LABEL"], got["ANN"]) == ("web", "ns", "uid-1", "web", "b")
    assert (got["NODE"], got["SA"], got["IP"], got["HOST"]) == ("node-1", "robot", "10.0.0.5", "192.168.1.2")
    assert got["COLOR"] == "blue" and "GONE" not in got
    assert got["CPU"] == "4"  # no limit: the node's capacity
    assert got["MEM"] == "100"
    assert got["REQ"] == "250"
    assert argv(["echo", "$(COLOR)", "$$(COLOR)"], env) == ["echo", "blue", "$(COLOR)"]


@pytest.mark.parametrize(("ref", "message"), [
    (EnvVarRef(Name="X", SecretKeyRef=KeyRef(Name="missing", Key="k")), 'secret "missing" not found'),
    (EnvVarRef(Name="X", SecretKeyRef=KeyRef(Name="creds", Key="k")), "couldn't find key k in Secret ns/creds"),
    (EnvVarRef(Name="X", ConfigMapKeyRef=KeyRef(Name="missing", Key="k")), 'configmap "missing" not found'),
    (EnvVarRef(Name="X", ConfigMapKeyRef=KeyRef(Name="cfg", Key="k")), "couldn't find key k in ConfigMap ns/cfg"),
])
def test_a_missing_required_source_is_a_config_error(ref: EnvVarRef, message: str) -> None:
    c = ContainerSpec(Name="app", Pod=PodContainer(EnvRefs=[ref]))
    with pytest.raises(ConfigError) as e:
        environment(task(c), c, Objects(), FIELDS)
    assert (e.value.reason, e.value.message) == (CONFIG_ERROR, message)


def test_volume_files_keys_items_modes_and_projections() -> None:
    t = task(ContainerSpec(Name="app"))
    objects = Objects()
    whole = volume_files(t, Volume(Name="s", Secret=SecretVolume(SecretName="creds", DefaultMode=0o400)), objects,
                         FIELDS)
    assert whole == {"pw": (b"hunter2", 0o400), "user": (b"admin", 0o400), "bad-name!": (b"x", 0o400)}
    items = volume_files(t, Volume(Name="c", ConfigMap=ConfigMapVolume(Name="cfg", Items=[
        KeyToPath(Key="color", Path="sub/dir/color.txt", Mode=0o600)])), objects, FIELDS)
    assert items == {"sub/dir/color.txt": (b"blue", 0o600)}
    proj = volume_files(t, Volume(Name="p", Projected=ProjectedVolume(DefaultMode=0o440, Sources=[
        ProjectedSource(Secret=SecretVolume(SecretName="creds", Items=[KeyToPath(Key="pw", Path="password")])),
        ProjectedSource(ConfigMap=ConfigMapVolume(Name="cfg", Items=[KeyToPath(Key="color", Path="color")])),
        ProjectedSource(DownwardAPI=DownwardAPIVolume(Items=[
            DownwardAPIFile(Path="name", FieldRef=ObjectFieldRef(FieldPath="metadata.name")),
            DownwardAPIFile(Path="labels", FieldRef=ObjectFieldRef(FieldPath="metadata.labels"), Mode=0o444)]))])),
        objects, FIELDS)
    assert proj == {"password": (b"hunter2", 0o440), "color": (b"blue", 0o440), "name": (b"web", 0o440),
                    "labels": (b'app="web"', 0o444)}
    assert volume_files(t, Volume(Name="e"), objects, FIELDS) is None  # not a volume of files
    optional = volume_files(t, Volume(Name="o", Secret=SecretVolume(SecretName="nope", Optional=True)), objects,
                            FIELDS)
    assert optional == {}


@pytest.mark.parametrize(("volume", "message"), [
    (Volume(Name="s", Secret=SecretVolume(SecretName="nope")),
     'MountVolume.SetUp failed for volume "s" : secret "nope" not found'),
    (Volume(Name="c", ConfigMap=ConfigMapVolume(Name="cfg", Items=[KeyToPath(Key="k", Path="k")])),
     'MountVolume.SetUp failed for volume "c" : configmap references non-existent configmap key: k'),
    (Volume(Name="c", ConfigMap=ConfigMapVolume(Name="cfg", Items=[KeyToPath(Key="color", Path="../x")])),
     "MountVolume.SetUp failed for volume \"c\" : invalid path '../x': must be relative and may not contain '..'"),
])
def test_a_volume_that_cannot_be_made(volume: Volume, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        volume_files(task(ContainerSpec(Name="app")), volume, Objects(), FIELDS)
    assert (e.value.reason, e.value.message) == (CONTAINER_CREATING, message)
