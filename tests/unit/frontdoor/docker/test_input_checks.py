"""Bad input the Docker door refuses in dockerd's words (issue 18): API versions outside the supported
range (moby's version middleware), ``filters`` that are not a JSON object of sets or lists (moby's
``filters.FromJSON``), mounts over the container's root or at a relative path (moby's
``validateMountConfig``) and an empty ``docker load``. A port protocol Docker does not know is tcp."""

from __future__ import annotations

from typing import Any

import pytest

from shoal import API_VERSION, MIN_API_VERSION
from shoal.daemon import Daemon
from tests.unit.frontdoor.docker.test_app import Client, V, client, error, manager, node, service_body

__all__ = ["client", "manager", "node"]  # the fixtures, used by name

LISTS = ["services", "nodes", "networks", "secrets", "configs", "volumes", "tasks", "containers/json",
         "images/json"]


@pytest.mark.parametrize("path", ["/info", "/_ping", "/version", "/services"])
async def test_an_api_version_out_of_range_is_refused(manager: Daemon, client: Client, path: str) -> None:
    r = await client.get(f"/v1.99{path}")
    assert await error(r, 400) == f"client version 1.99 is too new. Maximum supported API version is {API_VERSION}"
    r = await client.get(f"/v1.11{path}")
    assert await error(r, 400) == (f"client version 1.11 is too old. Minimum supported API version is "
                                   f"{MIN_API_VERSION}, please upgrade your client to a newer version")
    for ok in (f"/v{MIN_API_VERSION}{path}", f"/v{API_VERSION}{path}", path):
        assert (await client.get(ok)).status == 200


# dockerd 20.10's answers (seen on this machine): Go's decoding error of the map of sets.
FILTERS_REFUSED = [
    ("7", "json: cannot unmarshal number into Go value of type map[string]map[string]bool"),
    ("[1]", "json: cannot unmarshal array into Go value of type map[string]map[string]bool"),
    ('"x"', "json: cannot unmarshal string into Go value of type map[string]map[string]bool"),
    ("true", "json: cannot unmarshal bool into Go value of type map[string]map[string]bool"),
    ('{"name": 7}', "json: cannot unmarshal number into Go value of type map[string]bool"),
    ('{"name": [1]}', "json: cannot unmarshal array into Go value of type map[string]bool"),
    ('{"name": {"a": "yes"}}', "json: cannot unmarshal string into Go value of type bool"),
    ('{"name": {"a": true}, "id": [1]}', "json: cannot unmarshal array into Go value of type map[string]bool"),
]


@pytest.mark.parametrize("what", LISTS)
async def test_filters_that_are_not_an_object_are_invalid(manager: Daemon, client: Client, what: str) -> None:
    for bad, words in FILTERS_REFUSED:
        r = await client.get(f"{V}/{what}", params={"filters": bad})
        assert await error(r, 400) == words, bad
    for good in ("", "null", "{}", '{"name": null}', '{"name": {"x": true}}', '{"name": ["x"]}'):
        r = await client.get(f"{V}/{what}", params={"filters": good})
        assert r.status == 200, (good, await r.text())


async def test_an_empty_image_load_is_a_bad_archive(node: Daemon, client: Client) -> None:
    r = await client.post(f"{V}/images/load", data=b"", headers={"Content-Type": "application/x-tar"})
    assert await error(r, 400) == "invalid archive: does not contain a manifest.json"
    r = await client.post(f"{V}/images/load", data=b"not a tarball" * 100,
                          headers={"Content-Type": "application/x-tar"})
    assert await error(r, 400) == "archive/tar: invalid tar header"
    assert (await client.get("/_ping")).status == 200


def _with(name: str, *, ports: list[dict[str, Any]] | None = None,
          mounts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body = service_body(name)
    if ports is not None:
        body["EndpointSpec"] = {"Ports": ports}
    if mounts is not None:
        body["TaskTemplate"]["ContainerSpec"]["Mounts"] = mounts
    return body


REFUSED: list[tuple[dict[str, Any], str]] = [
    (_with("t", mounts=[{"Type": "tmpfs", "Target": "/"}]),
     "invalid mount config for type \"tmpfs\": invalid specification: destination can't be '/'"),
    (_with("t", mounts=[{"Type": "volume", "Source": "v", "Target": "/data/.."}]),
     "invalid mount config for type \"volume\": invalid specification: destination can't be '/'"),
    (_with("t", mounts=[{"Type": "tmpfs", "Target": "tmp"}]),
     "invalid mount config for type \"tmpfs\": invalid mount path: 'tmp' mount path must be absolute"),
]


@pytest.mark.parametrize(("body", "words"), REFUSED)
async def test_a_service_docker_refuses_is_refused(manager: Daemon, client: Client, body: dict[str, Any],
                                                  words: str) -> None:
    assert await error(await client.post(f"{V}/services/create", json=body), 400) == words
    assert await (await client.get(f"{V}/services")).json() == []


async def test_the_protocols_and_mounts_docker_accepts_are_accepted(manager: Daemon, client: Client) -> None:
    """dockerd reads a protocol's name in any case, and one it does not know (``icmp``) as tcp."""
    protocols = ("tcp", "udp", "sctp", "TCP", "icmp", "")
    ports = [{"Protocol": p, "TargetPort": 80 + i} for i, p in enumerate(protocols)]
    r = await client.post(f"{V}/services/create", json=_with("ports", ports=ports))
    assert r.status == 201, await r.text()
    got = await (await client.get(f"{V}/services/{(await r.json())['ID']}")).json()
    assert [p["Protocol"] for p in got["Spec"]["EndpointSpec"]["Ports"]] == ["tcp", "udp", "sctp", "tcp", "tcp", "tcp"]
    r = await client.post(f"{V}/services/create", json=_with("mounts", mounts=[{"Type": "tmpfs", "Target": "/t"}]))
    assert r.status == 201, await r.text()
