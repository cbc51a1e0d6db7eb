"""Three managers on one etcd, each with its own thread, event loop, etcd client and watched cache, as
three daemons have: two clients create a service of the same name, or services publishing the same
port, at the same moment through two different managers. Exactly one succeeds each round and the
other gets Docker's error; every manager's cache then holds just the one service."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import pytest
from tests.unit.store.test_backends import NO_ETCD, etcd_member

from shoal.api.errors import ShoalError
from shoal.api.types import ContainerSpec, EndpointSpec, PortConfig, Service, ServiceSpec, TaskSpec
from shoal.frontdoor.docker.errors import words
from shoal.manager.control import ControlAPI
from shoal.store.etcd import EtcdBackend
from shoal.store.objects import ObjectStore

T = TypeVar("T")
ROUNDS = 5

pytestmark = NO_ETCD


class Manager:
    """One manager's control API over its own etcd client, on its own thread and event loop."""

    def __init__(self, endpoint: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.api: ControlAPI = self.run(self._open(endpoint))

    async def _open(self, endpoint: str) -> ControlAPI:
        store = ObjectStore(EtcdBackend(endpoint), watch_backend=True)
        await store.load()
        return ControlAPI(store)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.submit(coro).result(timeout=30)

    def close(self) -> None:
        async def shut() -> None:
            await self.api.store.close()
            await self.api.store.backend.close()
        self.run(shut())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def managers() -> Iterator[list[Manager]]:
    with etcd_member() as server:
        ms: list[Manager] = []
        try:
            ms.extend(Manager(server.endpoint) for _ in range(3))
            ms[0].run(ms[0].api.networks.ensure_ingress())  # as `swarm init` makes it
            yield ms
        finally:
            for m in ms:
                m.close()


def spec(name: str, port: int = 0) -> ServiceSpec:
    return ServiceSpec(Name=name, TaskTemplate=TaskSpec(Containers=[ContainerSpec(Image="busybox")]),
                       EndpointSpec=EndpointSpec(Ports=[PortConfig(TargetPort=80, PublishedPort=port)])
                       if port else None)


def race(a: Manager, b: Manager, specs: tuple[ServiceSpec, ServiceSpec]) -> list[Service | ShoalError]:
    """Both managers create at once (a barrier releases both threads together); each outcome."""
    barrier = threading.Barrier(2)

    async def create(m: Manager, s: ServiceSpec) -> Service | ShoalError:
        await asyncio.get_running_loop().run_in_executor(None, barrier.wait)
        try:
            return await m.api.create_service(s)
        except ShoalError as e:
            return e

    futures = [a.submit(create(a, specs[0])), b.submit(create(b, specs[1]))]
    return [f.result(timeout=30) for f in futures]


def settle(managers: list[Manager], which: Callable[[Service], bool], want: list[str]) -> None:
    """Wait until every manager's cache holds exactly the services ``want`` among those ``which`` picks."""
    async def held(api: ControlAPI) -> list[str]:
        return sorted(s.ID for s in api.store.list(Service) if which(s))

    deadline = time.monotonic() + 10
    while not all(m.run(held(m.api)) == want for m in managers):
        assert time.monotonic() < deadline, "the managers' caches did not converge"
        time.sleep(0.01)


def named(name: str) -> Callable[[Service], bool]:
    return lambda s: s.Spec.Name == name


def publishing(port: int) -> Callable[[Service], bool]:
    return lambda s: s.Endpoint is not None and any(p.PublishedPort == port for p in s.Endpoint.Ports or [])


def test_one_name_two_managers_at_once(managers: list[Manager]) -> None:
    for r in range(ROUNDS):
        a, b = managers[r % 3], managers[(r + 1) % 3]
        name = f"web{r}"
        outcomes = race(a, b, (spec(name), spec(name)))
        made = [o for o in outcomes if isinstance(o, Service)]
        refused = [o for o in outcomes if isinstance(o, ShoalError)]
        assert len(made) == 1 and len(refused) == 1, outcomes
        assert words(refused[0]) == ("rpc error: code = AlreadyExists desc = name conflicts with an existing "
                                      f"object: service {name} already exists")
        settle(managers, named(name), [made[0].ID])


def test_one_published_port_two_managers_at_once(managers: list[Manager]) -> None:
    for r in range(ROUNDS):
        a, b = managers[r % 3], managers[(r + 2) % 3]
        port = 8080 + r
        outcomes = race(a, b, (spec(f"p{r}-a", port), spec(f"p{r}-b", port)))
        made = [o for o in outcomes if isinstance(o, Service)]
        refused = [o for o in outcomes if isinstance(o, ShoalError)]
        assert len(made) == 1 and len(refused) == 1, outcomes
        winner = made[0]
        assert words(refused[0]) == (f"rpc error: code = InvalidArgument desc = port '{port}' is already in use by "
                                      f"service '{winner.Spec.Name}' ({winner.ID}) as an ingress port")
        settle(managers, publishing(port), [winner.ID])


def test_automatic_choices_two_managers_at_once(managers: list[Manager]) -> None:
    """Ports chosen automatically never refuse: the loser chooses again."""
    for r in range(ROUNDS):
        a, b = managers[r % 3], managers[(r + 1) % 3]
        auto = [ServiceSpec(Name=f"auto{r}-{i}", TaskTemplate=TaskSpec(Containers=[ContainerSpec(Image="busybox")]),
                            EndpointSpec=EndpointSpec(Ports=[PortConfig(TargetPort=80)])) for i in range(2)]
        outcomes = race(a, b, (auto[0], auto[1]))
        assert all(isinstance(o, Service) for o in outcomes), outcomes
        ports = [o.Endpoint.Ports[0].PublishedPort for o in outcomes
                 if isinstance(o, Service) and o.Endpoint and o.Endpoint.Ports]
        assert len(set(ports)) == 2
