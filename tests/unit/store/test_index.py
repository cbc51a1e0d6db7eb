"""Index keys (``store/index.py``): every backend refuses a second claim of a key compared absent and
names the key; ``ObjectStore.commit`` claims, moves and drops the names, published ports and addresses
of each kind with the object; a store written before index keys gets them when it is opened."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shoal.api.errors import Conflict
from shoal.api.states import TaskState
from shoal.api.types import (
    Config,
    ConfigSpec,
    Driver,
    Endpoint,
    IPAMConfig,
    IPAMOptions,
    Network,
    NetworkAttachment,
    NetworkSpec,
    ObjectRef,
    PortConfig,
    Secret,
    SecretSpec,
    Service,
    ServiceSpec,
    Task,
    TaskStatus,
    clone,
    encode,
)
from shoal.api.types import Version as V
from shoal.store.backend import Compare, CompareFailed, Put
from shoal.store.index import INDEX_PREFIX, VNI_OPTION, ip_key, name_key, port_key, subnet_key, vni_key
from shoal.store.memory import MemoryBackend
from shoal.store.objects import ObjectStore, Taken, key_of
from shoal.store.sqlite import SQLiteBackend

from ..helpers import make_node
from .test_backends import KINDS, AnyBackend, etcd_server, open_backend  # noqa: F401  (etcd_server: a fixture)

# ---------------------------------------------------------------- the backends' compare-absent


@pytest.fixture(params=KINDS)
async def any_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AnyBackend]:
    b = await open_backend(request.param, tmp_path, request)
    yield b
    await b.close()


async def test_a_key_compared_absent_is_claimed_once(any_backend: AnyBackend) -> None:
    """On every backend (memory, SQLite, etcd when installed)."""
    b = any_backend
    key = port_key("tcp", 8080)
    rev, _ = await b.txn([Compare("/shoal/services/a", 0), Compare(key, 0)],
                         [Put("/shoal/services/a", b"{}"), Put(key, b"services/a")])
    with pytest.raises(CompareFailed) as e:
        await b.txn([Compare("/shoal/services/b", 0), Compare(key, 0)],
                    [Put("/shoal/services/b", b"{}"), Put(key, b"services/b")])
    assert e.value.args == (key,)  # the failing key is named, so the store can say who holds it
    assert (await b.get("/shoal/services/b"))[0] is None  # nothing of the losing transaction was written
    kv, _ = await b.get(key)
    assert kv is not None and kv.value == b"services/a" and kv.mod_revision == rev


# ---------------------------------------------------------------- ObjectStore


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    b = MemoryBackend() if request.param == "memory" else SQLiteBackend(tmp_path / "s.db")
    s = ObjectStore(b)
    await s.load()
    yield s
    await b.close()


async def index(store: ObjectStore) -> dict[str, str]:
    kvs, _ = await store.backend.range(INDEX_PREFIX)
    return {kv.key: kv.value.decode() for kv in kvs}


def service(sid: str, name: str, *ports: int, vips: dict[str, str] | None = None) -> Service:
    return Service(ID=sid, Spec=ServiceSpec(Name=name), Endpoint=Endpoint(
        Ports=[PortConfig(TargetPort=80, PublishedPort=p) for p in ports] or None,
        VirtualIPs=[{"NetworkID": n, "Addr": a} for n, a in (vips or {}).items()] or None))


def network(nid: str, name: str, subnet: str, vni: int) -> Network:
    return Network(ID=nid, Spec=NetworkSpec(Name=name), DriverState=Driver(Name="overlay",
                   Options={VNI_OPTION: str(vni)}), IPAMOptions=IPAMOptions(Configs=[IPAMConfig(Subnet=subnet)]))


def payload(kind: str, oid: str, name: str) -> Secret | Config:
    if kind == "secrets":
        return Secret(ID=oid, Spec=SecretSpec(Name=name))
    return Config(ID=oid, Spec=ConfigSpec(Name=name))


def named(kind: str, oid: str, name: str) -> Service | Network | Secret | Config:
    if kind == "services":
        return service(oid, name)
    if kind == "networks":
        return network(oid, name, f"10.9.{len(oid)}.0/24", 4097 + len(oid))
    return payload(kind, oid, name)


@pytest.mark.parametrize("kind", ["services", "networks", "secrets", "configs"])
async def test_a_name_is_held_by_one_object_of_its_kind(store: ObjectStore, kind: str) -> None:
    a = await store.create(named(kind, "a", "web"))
    assert (await index(store))[name_key(kind, "web")] == f"{kind}/a"
    with pytest.raises(Taken) as e:
        await store.create(named(kind, "bb", "web"))
    assert e.value.what == ("name", kind, "web") and e.value.owner == f"{kind}/a" and e.value.owner_id == "a"
    assert store.get(type(a), "bb") is None
    # Updating the object keeps its name's key (nothing moves); deleting it frees the name.
    changed = clone(a)
    changed.Spec.Labels = {"x": "y"}
    await store.update(changed)
    assert (await index(store))[name_key(kind, "web")] == f"{kind}/a"
    # The control API refuses renames (as SwarmKit does), but the store would move the key.
    renamed = clone(store.get(type(a), "a"))
    renamed.Spec.Name = "www"
    await store.update(renamed)
    keys = await index(store)
    assert keys[name_key(kind, "www")] == f"{kind}/a" and name_key(kind, "web") not in keys
    await store.delete(store.get(type(a), "a"))
    assert name_key(kind, "www") not in await index(store)
    await store.create(named(kind, "bb", "web"))
    assert (await index(store))[name_key(kind, "web")] == f"{kind}/bb"


async def test_kinds_do_not_share_names(store: ObjectStore) -> None:
    await store.create(named("services", "a", "web"))
    await store.create(named("secrets", "b", "web"))
    await store.create(named("configs", "c", "web"))
    assert sorted(await index(store)) == sorted(name_key(k, "web") for k in ("services", "secrets", "configs"))


async def test_published_ports_are_claimed_moved_and_freed(store: ObjectStore) -> None:
    a = await store.create(service("a", "a", 8080, 8081))
    with pytest.raises(Taken) as e:
        await store.create(service("b", "b", 9000, 8081))
    assert e.value.what == ("port", "tcp", "8081") and e.value.owner == "services/a"
    assert store.get(Service, "b") is None and port_key("tcp", 9000) not in await index(store)
    # The same number over UDP, or published on the node (mode=host), is another thing.
    udp = service("u", "u", 8080)
    assert udp.Endpoint and udp.Endpoint.Ports
    udp.Endpoint.Ports[0].Protocol = "udp"
    await store.create(udp)
    host = service("h", "h", 8081)
    assert host.Endpoint and host.Endpoint.Ports
    host.Endpoint.Ports[0].PublishMode = "host"
    await store.create(host)
    # An update that drops 8081 and adds 9000 moves the keys in its own transaction.
    moved = clone(a)
    moved.Endpoint = service("a", "a", 8080, 9000).Endpoint
    await store.update(moved)
    keys = await index(store)
    assert keys[port_key("tcp", 9000)] == "services/a" and port_key("tcp", 8081) not in keys
    assert keys[port_key("udp", 8080)] == "services/u"
    await store.create(service("b", "b", 8081))
    await store.delete(store.get(Service, "a"))
    assert {k: v for k, v in (await index(store)).items() if k.startswith(f"{INDEX_PREFIX}port/")} == {
        port_key("tcp", 8081): "services/b", port_key("udp", 8080): "services/u"}


def task(tid: str, net: str, addr: str, state: TaskState = TaskState.PENDING) -> Task:
    return Task(ID=tid, Owner=ObjectRef(Kind="Service", ID="s"), Status=TaskStatus(State=state),
                NetworksAttachments=[NetworkAttachment(Network=Network(ID=net), Addresses=[addr])])


async def test_an_address_is_held_by_one_vip_task_or_node(store: ObjectStore) -> None:
    await store.create(service("a", "a", vips={"n1": "10.0.1.2/24"}))
    with pytest.raises(Taken) as e:
        await store.create(service("b", "b", vips={"n1": "10.0.1.2/24"}))
    assert e.value.what == ("ip", "n1", "10.0.1.2") and e.value.owner == "services/a"
    await store.create(service("b", "b", vips={"n2": "10.0.1.2/24"}))  # the same address on another network
    with pytest.raises(Taken):
        await store.create(task("t1", "n1", "10.0.1.2/24"))
    t = await store.create(task("t1", "n1", "10.0.1.3/24"))
    node = make_node("n", node_id="n")
    node.Attachments = [NetworkAttachment(Network=Network(ID="n1"), Addresses=["10.0.1.3/24"])]
    with pytest.raises(Taken) as e:
        await store.create(node)
    assert e.value.owner == "tasks/t1"
    # A task's address is free again once the task has stopped.
    running = clone(t)
    running.Status.State = TaskState.RUNNING
    await store.update(running)
    assert (await index(store))[ip_key("n1", "10.0.1.3")] == "tasks/t1"
    stopped = clone(store.get(Task, "t1"))
    stopped.Status.State = TaskState.FAILED
    await store.update(stopped)
    assert ip_key("n1", "10.0.1.3") not in await index(store)
    await store.create(node)
    await store.delete(store.get(Task, "t1"))  # a stopped task holds nothing to give back
    assert (await index(store))[ip_key("n1", "10.0.1.3")] == "nodes/n"


async def test_networks_hold_their_vni_and_subnet(store: ObjectStore) -> None:
    await store.create(network("a", "a", "10.0.1.0/24", 4097))
    with pytest.raises(Taken) as e:
        await store.create(network("b", "b", "10.0.2.0/24", 4097))
    assert e.value.what == ("vni", "4097")
    with pytest.raises(Taken) as e:
        await store.create(network("b", "b", "10.0.1.0/24", 4098))
    assert e.value.what == ("subnet", "10.0.1.0/24")
    await store.create(network("b", "b", "10.0.2.0/24", 4098))
    keys = await index(store)
    assert keys[vni_key(4098)] == keys[subnet_key("10.0.2.0/24")] == "networks/b"


async def test_two_claims_of_one_commit_and_a_stale_object_first(store: ObjectStore) -> None:
    with pytest.raises(Taken) as e:
        await store.commit(creates=[service("a", "web"), service("b", "web")])
    assert e.value.owner == "services/a" and store.count(Service) == 0
    a = await store.create(service("a", "web"))
    stale = clone(a)
    stale.Version = V(Index=a.Version.Index - 1)
    await store.create(service("b", "db"))
    # An update read at an old version is out of sequence, whatever it claims.
    stale.Spec.Name = "db"
    with pytest.raises(Conflict, match=r"^update out of sequence$") as e2:
        await store.update(stale)
    assert not isinstance(e2.value, Taken)


# ---------------------------------------------------------------- backfill


async def raw_put(backend: SQLiteBackend, kind: str, obj: object) -> None:
    oid = obj.ID  # type: ignore[attr-defined]
    await backend.txn([], [Put(key_of(kind, oid), encode(obj))])


async def test_a_store_written_before_index_keys_gets_them_once(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "old.db"
    b = SQLiteBackend(path)
    await raw_put(b, "services", service("a", "web", 8080, vips={"n1": "10.0.1.2/24"}))
    await raw_put(b, "services", service("b", "web", 8081))  # a duplicate the old request path let through
    await raw_put(b, "secrets", payload("secrets", "s", "pw"))
    await raw_put(b, "tasks", task("t1", "n1", "10.0.1.3/24", TaskState.RUNNING))
    await raw_put(b, "tasks", task("t2", "n1", "10.0.1.4/24", TaskState.COMPLETE))
    await b.txn([], [Put(port_key("tcp", 7000), b"services/gone")])  # a key nobody holds
    await b.close()

    b = SQLiteBackend(path)
    store = ObjectStore(b)
    with caplog.at_level(logging.WARNING, logger="shoal.store.objects"):
        await store.load()
    keys = await index(store)
    assert keys == {
        name_key("services", "web"): "services/a",
        port_key("tcp", 8080): "services/a",
        ip_key("n1", "10.0.1.2"): "services/a",
        port_key("tcp", 8081): "services/b",
        name_key("secrets", "pw"): "secrets/s",
        ip_key("n1", "10.0.1.3"): "tasks/t1",
    }
    assert "services b keeps no index key" in caplog.text and "held by services/a" in caplog.text
    # The index now guards the store as if it had always been there.
    with pytest.raises(Taken):
        await store.create(service("c", "c", 8080))
    rev = b.revision
    await b.close()

    b = SQLiteBackend(path)
    again = ObjectStore(b)
    await again.load()  # nothing left to build: nothing written
    assert b.revision == rev and await index(again) == keys
    await b.close()
