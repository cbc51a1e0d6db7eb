"""The control API's own checks of a service spec, whatever door it came through: replica counts,
ports and mounts that would be stored and then break every reader are refused with a coded error."""

from __future__ import annotations

import pytest

from shoal.api.errors import Code, ShoalError
from shoal.api.types import (
    ContainerSpec,
    EndpointSpec,
    Mount,
    PortConfig,
    ReplicatedService,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)
from shoal.manager.control import ControlAPI
from tests.unit.helpers import memory_store


def spec(replicas: int | None = 1, ports: list[PortConfig] | None = None,
         mounts: list[Mount] | None = None) -> ServiceSpec:
    return ServiceSpec(Name="web", TaskTemplate=TaskSpec(Containers=[ContainerSpec(Image="busybox", Mounts=mounts)]),
                       Mode=ServiceMode(Replicated=ReplicatedService(Replicas=replicas)),
                       EndpointSpec=EndpointSpec(Ports=ports))


# (spec, SwarmKit's control API error (control=True) or the node's own check, the description)
REFUSED = [
    (spec(replicas=-1), True, "Number of replicas must be non-negative"),
    (spec(replicas=1 << 63), True, "Number of replicas must be non-negative"),
    (spec(ports=[PortConfig(TargetPort=-1)]), False, "invalid containerPort: -1"),
    (spec(ports=[PortConfig(TargetPort=80, PublishedPort=65536)]), False, "invalid hostPort: 65536"),
    (spec(ports=[PortConfig(TargetPort=80, PublishedPort=-1)]), False, "invalid hostPort: -1"),
    (spec(mounts=[Mount(Type="bind", Source="data", Target="/data")]), False,
     "invalid bind mount source, must be an absolute path: data"),
    (spec(mounts=[Mount(Type="bind", Source="", Target="/data")]), False,
     "invalid bind mount source, must be an absolute path: "),
    (spec(mounts=[Mount(Type="tmpfs", Target="/t"), Mount(Type="volume", Source="v", Target="/t")]), True,
     "ContainerSpec: duplicate mount point: /t"),
]


@pytest.mark.parametrize(("bad", "control", "message"), REFUSED)
async def test_refused_with_a_coded_error(bad: ServiceSpec, control: bool, message: str) -> None:
    api = ControlAPI(await memory_store())
    with pytest.raises(ShoalError) as e:
        await api.create_service(bad)
    assert (e.value.code, e.value.control, e.value.message) == (Code.INVALID_ARGUMENT, control, message)
    with pytest.raises(ShoalError):
        api.dry_run(bad)


async def test_the_edges_are_accepted() -> None:
    api = ControlAPI(await memory_store())
    ok = spec(replicas=0, ports=[PortConfig(TargetPort=65535, PublishedPort=0)],
              mounts=[Mount(Type="bind", Source="/srv", Target="/a"), Mount(Type="volume", Source="v", Target="/b")])
    api.validate_service(ok)


# ---------------------------------------------------------------- protocols and mount targets (issue 18)

REFUSED_TOO = [
    (spec(ports=[PortConfig(Protocol="icmp", TargetPort=80)]), "invalid proto: icmp"),
    (spec(mounts=[Mount(Type="tmpfs", Target="/")]),
     "invalid mount config for type \"tmpfs\": invalid specification: destination can't be '/'"),
    (spec(mounts=[Mount(Type="bind", Source="/srv", Target="//")]),
     "invalid mount config for type \"bind\": invalid specification: destination can't be '/'"),
    (spec(mounts=[Mount(Type="volume", Source="v", Target="data")]),
     "invalid mount config for type \"volume\": invalid mount path: 'data' mount path must be absolute"),
]


@pytest.mark.parametrize(("bad", "message"), REFUSED_TOO)
async def test_protocols_and_targets_docker_refuses(bad: ServiceSpec, message: str) -> None:
    api = ControlAPI(await memory_store())
    with pytest.raises(ShoalError) as e:
        await api.create_service(bad)
    assert (e.value.code, e.value.control, e.value.message) == (Code.INVALID_ARGUMENT, False, message)
