"""The Docker front door's routes, status codes and error shapes, through aiohttp's test client against
an in-process daemon (``hollow`` runtime: tasks "run" with no process, no image, no root).

The expected texts are Docker's own (moby's ``daemon/cluster`` and ``api/server``, SwarmKit's
``controlapi``), not copies of what shoal prints: a Docker user must see the same words.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from shoal import API_VERSION, MIN_API_VERSION
from shoal.api.errors import Unavailable
from shoal.api.states import TaskState
from shoal.api.types import Node, Taint
from shoal.daemon import Daemon, DaemonConfig
from shoal.frontdoor.docker import app as app_mod
from shoal.frontdoor.docker.app import MAX_BODY, make_app
from shoal.store.backend import StoreError
from tests.support import free_port
from tests.unit.helpers import until

Client = TestClient
V = f"/v{API_VERSION}"

# Docker's words (moby daemon/cluster/errors.go and cluster.go errNoManager; swarm.go Leave).
NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this '
                 "node to swarm and try again.")
NOT_IN_SWARM = "This node is not part of a swarm"
ALREADY_IN_SWARM = ('This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join '
                    "another one.")
LEAVE_LAST_MANAGER = ("You are attempting to leave the swarm on a node that is participating as a manager. Removing "
                      "the last manager erases all current state of the swarm. Use `--force` to ignore this message. ")
JSON = {"Content-Type": "application/json"}  # what the docker CLI and SDKs send with a body
OUT_OF_SEQUENCE = "rpc error: code = Unknown desc = update out of sequence"  # SwarmKit's store, over gRPC


def build_app(d: Daemon) -> web.Application:
    """The one place these tests build the front door (when ``make_app``'s argument changes, only this
    line changes)."""
    return make_app(d)


def new_daemon(base: Path, hostname: str) -> Daemon:
    """A daemon whose state lives under ``base`` (the same ``base`` again: the same node, restarted)."""
    return Daemon(DaemonConfig(data_root=base / "data", exec_root=base / "run", runtime="hollow", hostname=hostname))


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Daemon]:
    """A daemon in no swarm yet."""
    d = new_daemon(tmp_path, "node-1")
    await d.start()
    yield d
    await d.stop()


@pytest.fixture
async def manager(node: Daemon) -> Daemon:
    """The same daemon as the single manager of a new swarm (listening on a free loopback port)."""
    await node.swarm_init("127.0.0.1", f"127.0.0.1:{free_port()}")

    def settled() -> bool:  # node IPAM writes the node's pod block just after init; versions move then
        m = node.manager
        return m is not None and bool(m.store.get(Node, node.node_id).PodCIDRs)
    await until(settled)
    return node


@pytest.fixture
async def client(node: Daemon) -> AsyncIterator[Client]:
    async with TestClient(TestServer(build_app(node))) as c:
        yield c


async def error(r: Any, status: int) -> str:
    """The message of a Docker-shaped error: exactly ``{"message": …}``, as JSON, with this status."""
    assert r.status == status, await r.text()
    assert r.content_type == "application/json"
    body = await r.json()
    assert list(body) == ["message"]
    return str(body["message"])


def service_body(name: str, image: str = "busybox", replicas: int = 1, **task: Any) -> dict[str, Any]:
    return {"Name": name, "TaskTemplate": {"ContainerSpec": {"Image": image}, **task},
            "Mode": {"Replicated": {"Replicas": replicas}}}


async def create_service(client: Client, name: str, **kw: Any) -> str:
    r = await client.post(f"{V}/services/create", json=service_body(name, **kw))
    assert r.status == 201, await r.text()
    body = await r.json()
    assert body["Warnings"] is None
    return str(body["ID"])


# ---------------------------------------------------------------- system


async def test_ping_says_ok_with_docker_headers(client: Client) -> None:
    for method in ("GET", "HEAD"):
        r = await client.request(method, "/_ping")
        assert r.status == 200
        assert r.headers["API-Version"] == API_VERSION
        assert r.headers["OSType"] == "linux"
        assert r.headers["Docker-Experimental"] == "false"
        assert r.headers["Swarm"] == "inactive"
        assert r.headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
        assert r.headers["Pragma"] == "no-cache"
        assert await r.text() == ("OK" if method == "GET" else "")


async def test_ping_tells_the_swarm_role(manager: Daemon, client: Client) -> None:
    r = await client.head(f"{V}/_ping")
    assert r.headers["Swarm"] == "active/manager"


async def test_version(client: Client) -> None:
    r = await client.get("/version")
    assert r.status == 200
    v = await r.json()
    assert v["ApiVersion"] == API_VERSION and v["MinAPIVersion"] == MIN_API_VERSION and v["Os"] == "linux"
    (engine,) = v["Components"]
    assert engine["Name"] == "Engine" and engine["Version"] == v["Version"]
    assert engine["Details"]["ApiVersion"] == API_VERSION


async def test_info_outside_a_swarm(client: Client) -> None:
    info = await (await client.get("/info")).json()
    assert info["Name"] == "node-1"
    assert info["Swarm"]["LocalNodeState"] == "inactive"
    assert info["Swarm"]["ControlAvailable"] is False and info["Swarm"]["NodeID"] == ""
    assert "Cluster" not in info["Swarm"]


async def test_info_of_a_manager_keeps_the_cluster_keys_secret(manager: Daemon, client: Client) -> None:
    swarm = (await (await client.get(f"{V}/info")).json())["Swarm"]
    assert swarm["LocalNodeState"] == "active" and swarm["ControlAvailable"] is True
    assert swarm["NodeID"] == manager.node_id and swarm["NodeAddr"] == "127.0.0.1"
    assert swarm["Nodes"] == 1 and swarm["Managers"] == 1
    assert swarm["RemoteManagers"] == [{"NodeID": manager.node_id, "Addr": manager.addr}]
    for secret in ("RootCAKey", "UnlockKey", "NetworkBootstrapKeys", "EncryptionKeyLamportClock"):
        assert secret not in swarm["Cluster"]


async def test_every_route_with_and_without_a_version_prefix(client: Client) -> None:
    for path in ("/version", f"{V}/version", f"/v{MIN_API_VERSION}/version"):
        assert (await client.get(path)).status == 200, path
    # Not a version: the path is not a route.
    for path in ("/v1/version", "/vX.Y/version", "/v1.47.1/version", "/1.47/version"):
        assert await error(await client.get(path), 404) == "page not found", path


async def test_unknown_route_or_method_is_docker_404(client: Client) -> None:
    assert await error(await client.get(f"{V}/nope"), 404) == "page not found"
    assert await error(await client.get("/services/x/nope"), 404) == "page not found"
    # dockerd answers a known path with the wrong method with its not-found handler too.
    assert await error(await client.delete(f"{V}/swarm"), 404) == "page not found"
    assert await error(await client.put(f"{V}/services/create"), 404) == "page not found"


# ---------------------------------------------------------------- swarm


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/swarm"), ("GET", "/swarm/unlockkey"), ("POST", "/swarm/update?version=1"),
    ("GET", "/services"), ("GET", "/services/x"), ("POST", "/services/create"), ("DELETE", "/services/x"),
    ("GET", "/tasks"), ("GET", "/tasks/x"), ("GET", "/nodes"), ("GET", "/nodes/x"), ("DELETE", "/nodes/x"),
    ("GET", "/secrets"), ("POST", "/secrets/create"),
    ("GET", "/configs"), ("GET", "/configs/x"),
])
async def test_cluster_routes_outside_a_swarm_say_not_a_manager(client: Client, method: str, path: str) -> None:
    r = await client.request(method, V + path, json=service_body("x") if method == "POST" else None)
    assert await error(r, 503) == NOT_A_MANAGER


async def test_leave_outside_a_swarm(client: Client) -> None:
    assert await error(await client.post(f"{V}/swarm/leave"), 503) == NOT_IN_SWARM
    assert await error(await client.post(f"{V}/swarm/leave?force=1"), 503) == NOT_IN_SWARM


async def test_init_inspect_and_leave(node: Daemon, client: Client) -> None:
    r = await client.post(f"{V}/swarm/init", json={"ListenAddr": f"127.0.0.1:{free_port()}",
                                                   "AdvertiseAddr": "127.0.0.1"})
    assert r.status == 200
    node_id = await r.json()  # the new node's ID, as a JSON string
    assert isinstance(node_id, str) and node_id == node.node_id

    again = await client.post(f"{V}/swarm/init", json={"ListenAddr": f"127.0.0.1:{free_port()}"})
    assert await error(again, 503) == ALREADY_IN_SWARM
    join = await client.post(f"{V}/swarm/join", json={"RemoteAddrs": ["127.0.0.1:1"], "JoinToken": "x"})
    assert await error(join, 503) == ALREADY_IN_SWARM

    swarm = await (await client.get(f"{V}/swarm")).json()
    assert swarm["ID"] and swarm["JoinTokens"]["Worker"].startswith("SWMTKN-1-")
    for secret in ("RootCAKey", "UnlockKey", "NetworkBootstrapKeys", "EncryptionKeyLamportClock"):
        assert secret not in swarm

    assert await error(await client.post(f"{V}/swarm/leave"), 503) == LEAVE_LAST_MANAGER
    assert (await client.post(f"{V}/swarm/leave?force=true")).status == 200
    assert await error(await client.get(f"{V}/swarm"), 503) == NOT_A_MANAGER


async def test_swarm_update_checks_the_version(manager: Daemon, client: Client) -> None:
    swarm = await (await client.get(f"{V}/swarm")).json()
    version = swarm["Version"]["Index"]
    stale = await client.post(f"{V}/swarm/update?version={version - 1}", json=swarm["Spec"])
    assert await error(stale, 500) == OUT_OF_SEQUENCE
    r = await client.post(f"{V}/swarm/update?version={version}&rotateWorkerToken=true", json=swarm["Spec"])
    assert r.status == 200
    after = await (await client.get(f"{V}/swarm")).json()
    assert after["JoinTokens"]["Worker"] != swarm["JoinTokens"]["Worker"]
    assert after["JoinTokens"]["Manager"] == swarm["JoinTokens"]["Manager"]
    bad = await client.post(f"{V}/swarm/update?version=x", json=swarm["Spec"])
    assert bad.status == 400


# ---------------------------------------------------------------- services


async def test_service_create_inspect_list_update_remove(manager: Daemon, client: Client) -> None:
    sid = await create_service(client, "web", replicas=2)
    by_id = await (await client.get(f"{V}/services/{sid}")).json()
    assert by_id["ID"] == sid and by_id["Spec"]["Name"] == "web"
    assert by_id["Spec"]["Mode"]["Replicated"]["Replicas"] == 2
    for ref in ("web", sid[:6]):  # by name and by unique ID prefix, as dockerd's getService
        assert (await (await client.get(f"{V}/services/{ref}")).json())["ID"] == sid

    await create_service(client, "api")
    listed = await (await client.get(f"{V}/services")).json()
    assert [s["Spec"]["Name"] for s in listed] == ["api", "web"]
    assert all(s.get("ServiceStatus") is None for s in listed)  # dockerd omits it (omitempty); shoal sends null
    named = await (await client.get(f"{V}/services", params={"filters": '{"name":{"we":true}}'})).json()
    assert [s["ID"] for s in named] == [sid]
    await until(lambda: manager.manager is not None and len(manager.manager.store.tasks_of_owner(sid)) == 2)
    with_status = await (await client.get(f"{V}/services?status=true&filters=%7B%22id%22%3A%5B%22{sid}%22%5D%7D")
                         ).json()
    assert with_status[0]["ServiceStatus"]["DesiredTasks"] == 2

    spec = by_id["Spec"]
    spec["Mode"]["Replicated"]["Replicas"] = 1
    version = by_id["Version"]["Index"]
    r = await client.post(f"{V}/services/{sid}/update?version={version}", json=spec)
    assert r.status == 200 and await r.json() == {"Warnings": None}
    stale = await client.post(f"{V}/services/{sid}/update?version={version}", json=spec)
    assert await error(stale, 500) == OUT_OF_SEQUENCE
    updated = await (await client.get(f"{V}/services/web")).json()
    assert updated["Spec"]["Mode"]["Replicated"]["Replicas"] == 1
    assert updated["PreviousSpec"]["Mode"]["Replicated"]["Replicas"] == 2

    r = await client.delete(f"{V}/services/web")
    assert r.status == 200
    assert await error(await client.get(f"{V}/services/web"), 404) == "service web not found"
    assert await error(await client.delete(f"{V}/services/web"), 404) == "service web not found"
    assert await error(await client.post(f"{V}/services/web/update?version=1", json=spec), 404) == (
        "service web not found")


async def test_service_errors_in_swarmkit_words(manager: Daemon, client: Client) -> None:
    sid = await create_service(client, "dup")
    r = await client.post(f"{V}/services/create", json=service_body("dup"))
    assert await error(r, 409) == (
        "rpc error: code = AlreadyExists desc = name conflicts with an existing object: service dup already exists")
    r = await client.post(f"{V}/services/create", json={"Name": "x", "TaskTemplate": {"ContainerSpec": {}}})
    assert await error(r, 400) == (
        "rpc error: code = InvalidArgument desc = ContainerSpec: image reference must be provided")
    r = await client.post(f"{V}/services/create", json=service_body("bad name!"))
    assert await error(r, 400) == "rpc error: code = InvalidArgument desc = name must be valid as a DNS name component"
    svc = await (await client.get(f"{V}/services/{sid}")).json()
    r = await client.post(f"{V}/services/{sid}/update?version={svc['Version']['Index']}&rollback=previous",
                          json=svc["Spec"])
    assert await error(r, 400) == (
        f"rpc error: code = FailedPrecondition desc = service {sid} does not have a previous spec")
    r = await client.post(f"{V}/services/{sid}/update?version=abc", json=svc["Spec"])
    assert r.status == 400


async def test_service_inspect_with_defaults_and_without_credentials(manager: Daemon, client: Client) -> None:
    auth = base64.urlsafe_b64encode(b'{"username":"u","password":"p"}').decode()
    r = await client.post(f"{V}/services/create", json=service_body("private"), headers={"X-Registry-Auth": auth})
    assert r.status == 201
    plain = await (await client.get(f"{V}/services/private")).json()
    assert plain["Spec"]["TaskTemplate"]["ContainerSpec"].get("PullOptions") is None
    assert plain["Spec"].get("UpdateConfig") is None
    full = await (await client.get(f"{V}/services/private?insertDefaults=true")).json()
    assert full["Spec"]["UpdateConfig"]["FailureAction"] == "pause"
    assert full["Spec"]["TaskTemplate"]["ContainerSpec"].get("PullOptions") is None
    await until(lambda: manager.manager is not None and bool(manager.manager.store.tasks_of_owner(full["ID"])))
    (task,) = await (await client.get(f"{V}/tasks")).json()
    assert task["Spec"]["ContainerSpec"].get("PullOptions") is None


async def test_dry_run_places_without_writing(manager: Daemon, client: Client) -> None:
    r = await client.post("/shoal/services/dry-run", json=service_body("planned", replicas=3))
    assert r.status == 200
    plan = await r.json()
    assert plan["Placed"] == 3 and plan["Tasks"] == 3
    assert await (await client.get(f"{V}/services")).json() == []


# ---------------------------------------------------------------- tasks


async def test_tasks_list_filters_and_inspect(manager: Daemon, client: Client) -> None:
    web_id = await create_service(client, "web", replicas=2)
    api_id = await create_service(client, "api")
    m = manager.manager
    assert m is not None

    def running(service_id: str) -> int:
        return sum(1 for t in m.store.tasks_of_owner(service_id) if t.Status.State == TaskState.RUNNING)

    await until(lambda: running(web_id) == 2 and running(api_id) == 1, what="three running tasks")

    async def tasks(filters: str = "") -> list[dict[str, Any]]:
        r = await client.get(f"{V}/tasks", params={"filters": filters} if filters else None)
        assert r.status == 200
        return list(await r.json())

    assert len(await tasks()) == 3
    assert {t["ServiceID"] for t in await tasks('{"service":{"web":true}}')} == {web_id}
    assert {t["ServiceID"] for t in await tasks(f'{{"service":["{api_id}"]}}')} == {api_id}  # the old list form
    assert len(await tasks('{"node":{"node-1":true}}')) == 3
    assert await tasks('{"node":{"nosuch":true}}') == []
    assert len(await tasks('{"desired-state":{"running":true}}')) == 3
    assert await tasks('{"desired-state":{"shutdown":true}}') == []
    assert [t["Slot"] for t in await tasks('{"name":{"web.2":true}}')] == [2]
    one = (await tasks('{"service":{"api":true}}'))[0]
    assert [t["ID"] for t in await tasks(f'{{"id":{{"{one["ID"][:8]}":true}}}}')] == [one["ID"]]

    got = await (await client.get(f"{V}/tasks/{one['ID']}")).json()
    assert got["ID"] == one["ID"] and got["ServiceID"] == api_id
    assert await error(await client.get(f"{V}/tasks/nosuch"), 404) == "task nosuch not found"
    assert (await client.get(f"{V}/tasks", params={"filters": "{not json"})).status == 400


# ---------------------------------------------------------------- nodes


async def test_nodes_list_inspect_update_and_errors(manager: Daemon, client: Client) -> None:
    (n,) = await (await client.get(f"{V}/nodes")).json()
    assert n["ID"] == manager.node_id and n["Description"]["Hostname"] == "node-1"
    assert n["Spec"]["Role"] == "manager" and n["ManagerStatus"]["Leader"] is True
    assert (await (await client.get(f"{V}/nodes/node-1")).json())["ID"] == n["ID"]
    assert await (await client.get(f"{V}/nodes", params={"filters": '{"role":{"worker":true}}'})).json() == []
    assert await error(await client.get(f"{V}/nodes/nosuch"), 404) == "node nosuch not found"

    version = n["Version"]["Index"]
    spec = {**n["Spec"], "Labels": {"zone": "a"}}
    assert (await client.post(f"{V}/nodes/{n['ID']}/update?version={version}", json=spec)).status == 200
    stale = await client.post(f"{V}/nodes/{n['ID']}/update?version={version}", json=spec)
    assert await error(stale, 500) == OUT_OF_SEQUENCE
    n = await (await client.get(f"{V}/nodes/{n['ID']}")).json()
    assert n["Spec"]["Labels"] == {"zone": "a"}
    demote = await client.post(f"{V}/nodes/{n['ID']}/update?version={n['Version']['Index']}",
                               json={**n["Spec"], "Role": "worker"})
    assert await error(demote, 400) == (
        "rpc error: code = FailedPrecondition desc = attempting to demote the last manager of the swarm")
    r = await client.delete(f"{V}/nodes/{n['ID']}")
    assert await error(r, 400) == (
        f"rpc error: code = FailedPrecondition desc = node {n['ID']} is a cluster manager and is a member of the "
        "raft cluster. It must be demoted to worker before removal")


# ---------------------------------------------------------------- networks


async def test_networks_create_list_inspect_remove(manager: Daemon, client: Client) -> None:
    r = await client.post(f"{V}/networks/create", json={"Name": "front", "Driver": "overlay",
                                                        "IPAM": {"Config": [{"Subnet": "10.213.7.0/24"}]},
                                                        "Labels": {"a": "b"}})
    assert r.status == 201
    created = await r.json()
    assert set(created) == {"Id", "Warning"}
    nid = created["Id"]
    net = await (await client.get(f"{V}/networks/front")).json()
    assert net["Id"] == nid and net["Name"] == "front" and net["Scope"] == "swarm" and net["Driver"] == "overlay"
    assert net["IPAM"]["Config"][0]["Subnet"] == "10.213.7.0/24" and net["Labels"] == {"a": "b"}
    names = [n["Name"] for n in await (await client.get(f"{V}/networks")).json()]
    assert "front" in names
    dup = await client.post(f"{V}/networks/create", json={"Name": "front", "Driver": "overlay"})
    assert await error(dup, 409) == "network with name front already exists"
    r = await client.post(f"{V}/networks/create", json={"Driver": "overlay"})
    assert await error(r, 400) == "rpc error: code = InvalidArgument desc = meta: name must be provided"

    assert (await client.delete(f"{V}/networks/{nid}")).status == 204
    assert await error(await client.get(f"{V}/networks/front"), 404) == "network front not found"
    assert await error(await client.delete(f"{V}/networks/front"), 404) == "network front not found"


# ---------------------------------------------------------------- secrets and configs


def payload(name: str, data: bytes, **labels: str) -> dict[str, Any]:
    return {"Name": name, "Labels": labels, "Data": base64.b64encode(data).decode()}


async def test_secrets_never_show_their_data(manager: Daemon, client: Client) -> None:
    r = await client.post(f"{V}/secrets/create", json=payload("db", b"s3cret", a="b"))
    assert r.status == 201
    sid = (await r.json())["ID"]
    listed = await (await client.get(f"{V}/secrets")).json()
    assert [s["ID"] for s in listed] == [sid]
    assert listed[0]["Spec"] == {"Name": "db", "Labels": {"a": "b"}}
    for ref in (sid, "db", sid[:5]):
        got = await (await client.get(f"{V}/secrets/{ref}")).json()
        assert got["ID"] == sid and "Data" not in got["Spec"]

    dup = await client.post(f"{V}/secrets/create", json=payload("db", b"x"))
    assert await error(dup, 409) == "rpc error: code = AlreadyExists desc = secret db already exists"
    bad = await client.post(f"{V}/secrets/create", json=payload("-db", b"x"))
    assert await error(bad, 400) == (
        "rpc error: code = InvalidArgument desc = invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the "
        "start and end character must be [a-zA-Z0-9]")
    assert await error(await client.get(f"{V}/secrets", params={"filters": '{"nope":{"x":true}}'}), 400) == (
        "invalid filter 'nope'")
    version = got["Version"]["Index"]
    change = await client.post(f"{V}/secrets/{sid}/update?version={version}", json=payload("db", b"other"))
    assert await error(change, 400) == "rpc error: code = InvalidArgument desc = only updates to Labels are allowed"
    relabel = await client.post(f"{V}/secrets/{sid}/update?version={version}",
                                json={"Name": "db", "Labels": {"c": "d"}})
    assert relabel.status == 200
    assert (await (await client.get(f"{V}/secrets/db")).json())["Spec"]["Labels"] == {"c": "d"}

    assert (await client.delete(f"{V}/secrets/db")).status == 204
    assert await error(await client.get(f"{V}/secrets/db"), 404) == "secret db not found"
    assert await error(await client.delete(f"{V}/secrets/db"), 404) == "secret db not found"


async def test_configs_show_their_data(manager: Daemon, client: Client) -> None:
    r = await client.post(f"{V}/configs/create", json=payload("site", b"conf"))
    assert r.status == 201
    cid = (await r.json())["ID"]
    got = await (await client.get(f"{V}/configs/site")).json()
    assert got["ID"] == cid and got["Spec"]["Data"] == base64.b64encode(b"conf").decode()
    listed = await (await client.get(f"{V}/configs", params={"filters": '{"name":{"si":true}}'})).json()
    assert [c["ID"] for c in listed] == [cid]
    # "names" is a secrets-only filter in dockerd (newListConfigsFilters accepts name, id and label).
    assert await error(await client.get(f"{V}/configs", params={"filters": '{"names":{"site":true}}'}), 400) == (
        "invalid filter 'names'")
    dup = await client.post(f"{V}/configs/create", json=payload("site", b"x"))
    assert await error(dup, 409) == "rpc error: code = AlreadyExists desc = config site already exists"
    assert (await client.delete(f"{V}/configs/{cid}")).status == 204
    assert await error(await client.get(f"{V}/configs/site"), 404) == "config site not found"


# ---------------------------------------------------------------- error shapes


async def test_bad_json_bodies_are_400(manager: Daemon, client: Client) -> None:
    for path in ("/services/create", "/networks/create", "/secrets/create", "/swarm/init", "/nodes/x/update"):
        message = await error(await client.post(V + path, data=b"{not json", headers=JSON), 400)
        assert message.startswith("invalid JSON: "), (path, message)  # dockerd's httputils.ReadJSON
    wrong_type = await client.post(f"{V}/services/create", json={"Name": 5})
    assert (await error(wrong_type, 400)).startswith("invalid JSON: ")
    # An empty body is an empty object (dockerd's ReadJSON), which a secret create then refuses.
    r = await client.post(f"{V}/secrets/create")
    assert await error(r, 400) == "rpc error: code = InvalidArgument desc = name must be provided"


async def test_json_bodies_must_say_application_json(manager: Daemon, client: Client) -> None:
    """dockerd's CheckForJSON: a browser's cross-origin text/plain POST must not create a service."""
    body = msgspec.json.encode(service_body("web"))
    r = await client.post(f"{V}/services/create", data=body, headers={"Content-Type": "text/plain"})
    assert await error(r, 400) == "unsupported Content-Type header (text/plain): must be 'application/json'"
    r = await client.post(f"{V}/services/create", data=body, headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert await error(r, 400) == ("unsupported Content-Type header (text/plain;charset=UTF-8): "
                                   "must be 'application/json'")
    r = await client.post(f"{V}/services/create", data=body, headers={"Content-Type": "nonsense"})
    assert await error(r, 400) == ("malformed Content-Type header (nonsense): "
                                   "mime: expected slash after first token")
    r = await client.post(f"{V}/volumes/create", data=b"{}", headers={"Content-Type": "text/plain"})
    assert await error(r, 400) == "unsupported Content-Type header (text/plain): must be 'application/json'"
    assert await (await client.get(f"{V}/services")).json() == []
    # application/json with parameters is JSON; no Content-Type and no body is an empty object.
    r = await client.post(f"{V}/services/create", data=body,
                          headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert r.status == 201, await r.text()
    r = await client.post(f"{V}/secrets/create", skip_auto_headers=["Content-Type"])
    assert await error(r, 400) == "rpc error: code = InvalidArgument desc = name must be provided"


async def test_a_store_failure_or_a_bug_is_a_500_in_docker_shape(manager: Daemon, client: Client,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    m = manager.manager
    assert m is not None

    def store_down(*_: object) -> object:
        raise StoreError("database is locked")

    monkeypatch.setattr(m.control, "services", store_down)
    assert await error(await client.get(f"{V}/services"), 500) == "internal error: database is locked"

    def bug(*_: object) -> object:
        raise KeyError("oops")

    monkeypatch.setattr(m.control, "services", bug)
    assert await error(await client.get(f"{V}/services"), 500) == "internal error: 'oops'"

    def unavailable(*_: object) -> object:
        raise Unavailable("no leader")

    monkeypatch.setattr(m.control, "services", unavailable)
    assert await error(await client.get(f"{V}/services"), 503) == "no leader"


# ---------------------------------------------------------------- a worker, a locked manager

NOT_A_MANAGER_WORKER = ("This node is not a swarm manager. Worker nodes can't be used to view or modify cluster "
                        "state. Please run this command on a manager node or promote the current node to a manager.")
SWARM_LOCKED = ('Swarm is encrypted and needs to be unlocked before it can be used. Please use "docker swarm unlock" '
                "to unlock it.")


@pytest.fixture
async def worker(manager: Daemon, tmp_path: Path) -> AsyncIterator[Daemon]:
    """A second daemon, joined to ``manager``'s swarm as a worker."""
    assert manager.manager is not None
    w = new_daemon(tmp_path / "worker", "node-2")
    await w.start()
    token = manager.manager.control.cluster().JoinTokens.Worker
    await w.swarm_join([manager.listen_addr], token, f"127.0.0.1:{free_port()}", "127.0.0.1")
    yield w
    await w.stop()


async def test_a_worker_answers_in_swarms_words(manager: Daemon, worker: Daemon) -> None:
    async with TestClient(TestServer(build_app(worker))) as c:
        assert (await c.get("/_ping")).headers["Swarm"] == "active/worker"
        swarm = (await (await c.get(f"{V}/info")).json())["Swarm"]
        assert swarm["LocalNodeState"] == "active" and swarm["ControlAvailable"] is False
        assert swarm["NodeID"] == worker.node_id and swarm["RemoteManagers"] == [{"NodeID": "", "Addr": manager.addr}]
        for path in ("/swarm", "/services", "/nodes", "/tasks", "/secrets"):
            assert await error(await c.get(V + path), 503) == NOT_A_MANAGER_WORKER, path
        assert await error(await c.post(f"{V}/swarm/init", json={}), 503) == ALREADY_IN_SWARM
        assert (await c.post(f"{V}/swarm/leave")).status == 200  # a worker leaves without --force
        assert (await c.get("/_ping")).headers["Swarm"] == "inactive"
        assert await error(await c.post(f"{V}/swarm/leave"), 503) == NOT_IN_SWARM


async def test_a_locked_manager_refuses_until_unlocked(node: Daemon, client: Client, tmp_path: Path) -> None:
    r = await client.post(f"{V}/swarm/init", json={"ListenAddr": f"127.0.0.1:{free_port()}",
                                                   "AdvertiseAddr": "127.0.0.1", "AutoLockManagers": True})
    assert r.status == 200
    key = (await (await client.get(f"{V}/swarm/unlockkey")).json())["UnlockKey"]
    assert key.startswith("SWMKEY-1-")
    await node.stop()
    restarted = new_daemon(tmp_path, "node-1")  # the same directories: the same node, now locked
    await restarted.start()
    try:
        async with TestClient(TestServer(build_app(restarted))) as c:
            assert (await c.get("/_ping")).headers["Swarm"] == "locked"
            assert (await (await c.get("/info")).json())["Swarm"]["LocalNodeState"] == "locked"
            for path in ("/swarm", "/services", "/nodes"):
                assert await error(await c.get(V + path), 503) == SWARM_LOCKED, path
            assert await error(await c.post(f"{V}/swarm/leave"), 503) == LEAVE_LAST_MANAGER
            wrong = await c.post(f"{V}/swarm/unlock", json={"UnlockKey": "SWMKEY-1-" + "A" * 43})
            # dockerd's words; it answers 401 (invalidUnlockKey is Unauthorized), shoal 400.
            assert (await wrong.json()) == {"message": "swarm could not be unlocked: invalid key provided"}
            assert (await c.post(f"{V}/swarm/unlock", json={"UnlockKey": key})).status == 200
            assert (await c.get(f"{V}/services")).status == 200
    finally:
        await restarted.stop()


async def test_a_docker_node_update_keeps_the_nodes_taints(manager: Daemon, client: Client) -> None:
    """Taints are Kubernetes': Docker neither sees them nor, updating a node, takes them away."""
    m = manager.manager
    assert m is not None

    def taint(n: Node) -> bool:
        n.Spec.Taints = [Taint(Key="dedicated", Value="gpu", Effect="NoSchedule")]
        return True

    await m.store.update_with(Node, manager.node_id, taint)
    n = await (await client.get(f"{V}/nodes/{manager.node_id}")).json()
    assert list(n["Spec"]) == ["Labels", "Role", "Availability"]  # as Docker 20.10: no Taints (nor an empty Name)
    spec = {**n["Spec"], "Labels": {"zone": "a"}, "Taints": [{"Key": "sneaky", "Effect": "NoExecute"}]}
    r = await client.post(f"{V}/nodes/{manager.node_id}/update?version={n['Version']['Index']}", json=spec)
    assert r.status == 200
    stored = m.store.get(Node, manager.node_id)
    assert stored is not None and stored.Spec.Labels == {"zone": "a"}
    assert stored.Spec.Taints == [Taint(Key="dedicated", Value="gpu", Effect="NoSchedule")]


# ---------------------------------------------------------------- input Docker refuses (issue 18)


def with_ports(name: str, *ports: dict[str, Any]) -> dict[str, Any]:
    return {**service_body(name), "EndpointSpec": {"Ports": list(ports)}}


def with_mounts(name: str, *mounts: dict[str, Any]) -> dict[str, Any]:
    body = service_body(name)
    body["TaskTemplate"]["ContainerSpec"]["Mounts"] = list(mounts)
    return body


# Each body with Docker's answer: dockerd's JSON decoder for numbers its unsigned fields cannot hold (a
# 20.10 daemon answers the same words without the "invalid JSON: " of newer dockerd's ReadJSON), SwarmKit's
# controlapi (validateMode, validateMounts), the executor's mount check (dockerd rejects the tasks with
# it; shoal refuses the spec) and the CLI's port parser (dockerd 20.10 stores such a port, unallocated).
REFUSED: list[tuple[dict[str, Any], str]] = [
    (service_body("r", replicas=-1), "invalid JSON: json: cannot unmarshal number -1 into Go struct field "
     "ReplicatedService.Mode.Replicated.Replicas of type uint64"),
    (service_body("r", replicas=1 << 64), "invalid JSON: json: cannot unmarshal number 18446744073709551616 into "
     "Go struct field ReplicatedService.Mode.Replicated.Replicas of type uint64"),
    (service_body("r", replicas=1 << 63), "rpc error: code = InvalidArgument desc = Number of replicas must be "
     "non-negative"),
    (with_ports("p", {"TargetPort": -1}), "invalid JSON: json: cannot unmarshal number -1 into Go struct field "
     "PortConfig.EndpointSpec.Ports.TargetPort of type uint32"),
    (with_ports("p", {"TargetPort": 80, "PublishedPort": -5}), "invalid JSON: json: cannot unmarshal number -5 "
     "into Go struct field PortConfig.EndpointSpec.Ports.PublishedPort of type uint32"),
    (with_ports("p", {"TargetPort": 80, "PublishedPort": 1 << 32}), "invalid JSON: json: cannot unmarshal number "
     "4294967296 into Go struct field PortConfig.EndpointSpec.Ports.PublishedPort of type uint32"),
    (with_ports("p", {"TargetPort": 80, "PublishedPort": 70000}), "invalid hostPort: 70000"),
    (with_ports("p", {"TargetPort": 65536, "PublishedPort": 8080}), "invalid containerPort: 65536"),
    (with_mounts("m", {"Type": "bind", "Source": "rel/dir", "Target": "/x"}),
     "invalid bind mount source, must be an absolute path: rel/dir"),
    (with_mounts("m", {"Type": "volume", "Source": "a", "Target": "/x"}, {"Type": "tmpfs", "Target": "/x"}),
     "rpc error: code = InvalidArgument desc = ContainerSpec: duplicate mount point: /x"),
]


@pytest.mark.parametrize(("body", "words"), REFUSED)
async def test_input_docker_refuses_is_refused_on_create_and_update(manager: Daemon, client: Client,
                                                                    body: dict[str, Any], words: str) -> None:
    assert await error(await client.post(f"{V}/services/create", json=body), 400) == words
    assert await (await client.get(f"{V}/services")).json() == []
    sid = await create_service(client, body["Name"])
    svc = await (await client.get(f"{V}/services/{sid}")).json()
    r = await client.post(f"{V}/services/{sid}/update?version={svc['Version']['Index']}", json=body)
    assert await error(r, 400) == words
    after = await (await client.get(f"{V}/services/{sid}")).json()
    assert after["Version"] == svc["Version"] and after["Spec"] == svc["Spec"]


async def test_the_edges_docker_accepts_are_accepted(manager: Daemon, client: Client) -> None:
    await create_service(client, "zero", replicas=0)
    edge = with_ports("edge", {"TargetPort": 65535, "PublishedPort": 65535})
    r = await client.post(f"{V}/services/create", json=edge)
    assert r.status == 201, await r.text()
    mounts = with_mounts("mounts", {"Type": "bind", "Source": "/srv", "Target": "/a"},
                         {"Type": "volume", "Source": "v", "Target": "/b"})
    r = await client.post(f"{V}/services/create", json=mounts)
    assert r.status == 201, await r.text()


async def test_a_body_over_the_limit_is_413_and_not_stored(manager: Daemon, client: Client) -> None:
    body = service_body("huge")
    body["Labels"] = {"pad": "x" * MAX_BODY}
    r = await client.post(f"{V}/services/create", json=body)
    assert await error(r, 413) == f"request body too large: the limit is {MAX_BODY} bytes"
    assert await (await client.get(f"{V}/services")).json() == []
    r = await client.post(f"{V}/secrets/create", data=b" " * (MAX_BODY + 1), headers=JSON)
    assert await error(r, 413) == f"request body too large: the limit is {MAX_BODY} bytes"


async def test_image_load_and_import_stream_bodies_over_the_limit(node: Daemon, client: Client) -> None:
    """Streamed uploads are read a chunk at a time: no limit (the image store then judges the tarball)."""
    big = b"\0" * (MAX_BODY + (1 << 20))  # zeros: an empty tar archive with a long end
    r = await client.post(f"{V}/images/load", data=big)
    assert await error(r, 400) == "invalid archive: does not contain a manifest.json"
    r = await client.post(f"{V}/images/create?fromSrc=-&repo=big", data=big)
    assert r.status == 200, await r.text()
    assert (await r.json())["status"].startswith("sha256:")


# ---------------------------------------------------------------- JSON as Go reads it (the Docker SDK's bodies)


async def test_autolock_asked_in_the_spec_at_init_as_the_docker_sdk_does(client: Client) -> None:
    """The SDK sends autolock in ``Spec.EncryptionConfig`` and its Raft settings as nulls."""
    spec = {"Name": "default", "Raft": {"SnapshotInterval": None, "KeepOldSnapshots": None,
                                        "LogEntriesForSlowFollowers": None, "HeartbeatTick": None,
                                        "ElectionTick": None},
            "EncryptionConfig": {"AutoLockManagers": True}, "CAConfig": None, "Labels": None}
    r = await client.post(f"{V}/swarm/init", json={"ListenAddr": f"127.0.0.1:{free_port()}",
                                                   "AdvertiseAddr": "127.0.0.1", "Spec": spec})
    assert r.status == 200, await r.text()
    swarm = await (await client.get(f"{V}/swarm")).json()
    assert swarm["Spec"]["EncryptionConfig"] == {"AutoLockManagers": True}
    key = (await (await client.get(f"{V}/swarm/unlockkey")).json())["UnlockKey"]
    assert key.startswith("SWMKEY-1-")
    r = await client.post(f"{V}/swarm/update?version={swarm['Version']['Index']}&rotateManagerUnlockKey=True",
                          json=swarm["Spec"])
    assert r.status == 200, await r.text()
    assert (await (await client.get(f"{V}/swarm/unlockkey")).json())["UnlockKey"] not in ("", key)


async def test_a_service_body_is_read_as_go_reads_it(manager: Daemon, client: Client) -> None:
    body = {"name": "web", "taskTemplate": {"containerSpec": {"image": "busybox", "Env": None}},
            "Mode": {"replicated": {"Replicas": 5}}, "UpdateConfig": {"order": "start-first", "Delay": None},
            "Unknown": {"x": 1}}
    r = await client.post(f"{V}/services/create", json=body)
    assert r.status == 201, await r.text()
    svc = await (await client.get(f"{V}/services/web")).json()
    assert svc["Spec"]["Mode"] == {"Replicated": {"Replicas": 5}}
    assert svc["Spec"]["UpdateConfig"]["Order"] == "start-first"
    assert "ServiceStatus" not in svc
    listed = await (await client.get(f"{V}/services?status=1")).json()
    assert listed[0]["ServiceStatus"]["DesiredTasks"] == 5


async def test_the_service_list_is_encoded_once_a_version_and_keeps_dockerds_field_order(
        manager: Daemon, client: Client) -> None:
    for body in ({"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}},
                  "Mode": {"Replicated": {"Replicas": 2}}},
                 {"Name": "job", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}},
                  "Mode": {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}}):
        r = await client.post(f"{V}/services/create", json=body)
        assert r.status == 201, await r.text()
    c = manager.control()
    for _ in range(2):  # the second answer comes from what the first encoded
        listed = {s["Spec"]["Name"]: s for s in await (await client.get(f"{V}/services?status=true")).json()}
        for s in c.services():
            want = app_mod.service_json(c, s, status=True)
            got = listed[s.Spec.Name]
            assert list(got) == list(want) and got == json.loads(json.dumps(want))
    assert list(listed["job"])[-3:] == ["ServiceStatus", "SpecVersion", "JobStatus"]
    web = await (await client.get(f"{V}/services/web")).json()
    spec = dict(web["Spec"], Labels={"tier": "front"})
    r = await client.post(f"{V}/services/{web['ID']}/update?version={web['Version']['Index']}", json=spec)
    assert r.status == 200, await r.text()
    listed = {s["Spec"]["Name"]: s for s in await (await client.get(f"{V}/services")).json()}
    assert listed["web"]["Spec"]["Labels"] == {"tier": "front"}  # a new version: encoded again


async def test_network_inspect_filters_by_scope(manager: Daemon, client: Client) -> None:
    r = await client.post(f"{V}/networks/create", json={"Name": "front", "Driver": "overlay"})
    assert r.status == 201
    nid = (await r.json())["Id"]
    assert (await client.get(f"{V}/networks/front?scope=swarm")).status == 200
    for scope in ("local", "global", "bogus"):
        assert await error(await client.get(f"{V}/networks/front?scope={scope}"), 404) == "network front not found"
        for ref in (nid, nid[:6]):  # as Docker 20.10: an ID (or its prefix) finds it whatever the scope
            assert (await client.get(f"{V}/networks/{ref}?scope={scope}")).status == 200
