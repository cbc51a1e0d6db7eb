"""The registry client against an in-process fake registry on loopback: the token flow, index
selection, digests verified, layers fetched once and shared, Docker's error words."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shoal.runtime.images import ImageStore, go_arch
from shoal.runtime.reference import parse
from shoal.runtime.registry import (
    AuthConfig,
    Puller,
    RegistryClient,
    RegistryError,
    parse_challenges,
    parse_pull_ref,
    progress_bar,
    select_platform,
)
from tests.unit.runtime.fakeregistry import FakeRegistry, layer, sha

ALICE = AuthConfig(username="alice", password="secret")


@pytest.fixture
async def reg() -> AsyncIterator[FakeRegistry]:
    r = await FakeRegistry(auth="bearer").start()
    try:
        yield r
    finally:
        await r.stop()


@pytest.fixture
async def client() -> AsyncIterator[RegistryClient]:
    c = RegistryClient(blocked=["all"])  # loopback only, as in every test
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


BASE = layer({"bin/hello": b"hello\n"})
TOP = layer({"etc/motd": b"app 1.2\n"})


# ---------------------------------------------------------------- parsing


def test_challenges() -> None:
    got = parse_challenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                           'scope="repository:library/busybox:pull,push"')
    assert got == [("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                               "scope": "repository:library/busybox:pull,push"})]
    assert parse_challenges('Basic realm="Registry Realm"') == [("basic", {"realm": "Registry Realm"})]
    two = parse_challenges('Basic realm="a \\"b\\"", Bearer realm=https://x/token, service=svc')
    assert two == [("basic", {"realm": 'a "b"'}), ("bearer", {"realm": "https://x/token", "service": "svc"})]
    assert parse_challenges("") == []


def test_auth_config_decoding() -> None:
    data = {"username": "alice", "password": "s3cr/t+?", "serveraddress": "127.0.0.1:5000"}
    raw = json.dumps(data).encode()
    url = base64.urlsafe_b64encode(raw).decode()
    std = base64.b64encode(raw).decode()
    for header in (url, std, url.rstrip("=")):
        got = AuthConfig.decode(header)
        assert (got.username, got.password, got.serveraddress) == ("alice", "s3cr/t+?", "127.0.0.1:5000")
    assert AuthConfig.decode("not base64 json!") == AuthConfig()
    assert AuthConfig.decode("") == AuthConfig()
    legacy = AuthConfig.from_json({"auth": base64.b64encode(b"bob:pw").decode()})
    assert (legacy.username, legacy.password) == ("bob", "pw")
    assert AuthConfig.decode(ALICE.encode()) == ALICE


def test_pull_ref_from_query() -> None:
    assert parse_pull_ref("127.0.0.1:5000/app", "1.2").familiar() == "127.0.0.1:5000/app:1.2"
    d = "sha256:" + "0" * 64
    assert parse_pull_ref("127.0.0.1:5000/app", d).digest == d
    assert parse_pull_ref("busybox", "").tagged().familiar() == "busybox:latest"


def test_select_platform() -> None:
    index = {"manifests": [
        {"digest": "sha256:arm", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}},
        {"digest": "sha256:att", "platform": {"os": "unknown", "architecture": "unknown"}},
    ]}
    assert select_platform(index, arch="amd64")["digest"] == "sha256:amd"
    assert select_platform(index, arch="x86_64")["digest"] == "sha256:amd"
    assert select_platform(index, arch="aarch64")["digest"] == "sha256:arm"
    with pytest.raises(RegistryError) as ei:
        select_platform(index, arch="s390x")
    assert ei.value.message == "no matching manifest for linux/s390x in the manifest list entries"


def test_progress_bar() -> None:
    assert progress_bar(0, 1000).startswith("[>")
    assert progress_bar(1000, 1000) == "[" + "=" * 50 + ">]      1kB/1kB"
    assert progress_bar(1_234_567, 4_560_000) == "[" + "=" * 13 + ">" + " " * 37 + "]  1.235MB/4.56MB"
    assert progress_bar(512, 0) == "512B"


# ---------------------------------------------------------------- pulling


async def test_pull_through_index_with_token(reg: FakeRegistry, client: RegistryClient, store: ImageStore) -> None:
    mine = reg.add_image("team/app", "", [BASE, TOP], cmd=["hello"])
    other = reg.add_image("team/app", "", [layer({"x": b"arm"})], arch="arm64")
    index_digest = reg.add_index("team/app", "1.2", [(other, "linux", "arm64"), (mine, "linux", go_arch())])
    msgs: list[dict[str, Any]] = []

    async def emit(m: dict[str, Any]) -> None:
        msgs.append(m)

    ref = parse(f"{reg.host}/team/app:1.2")
    pulled = await client.pull(ref, ALICE, store, emit)
    assert pulled.digest == index_digest and pulled.image_id == sha(mine.config) and not pulled.up_to_date
    assert reg.token_requests[0] == {"service": "fake-registry", "scope": "repository:team/app:pull"}
    assert len(reg.token_requests) == 1  # the token is kept for the rest of the pull
    img = store.resolve(f"{reg.host}/team/app:1.2")
    assert img is not None and img.id == pulled.image_id and img.container_config["Cmd"] == ["hello"]
    pinned = store.resolve(f"{reg.host}/team/app:1.2@{index_digest}")
    assert pinned is not None and pinned.id == img.id
    assert store.repo_digests(img.id) == [f"{reg.host}/team/app@{index_digest}"]
    dirs = store.layer_dirs(img)
    assert (dirs[0] / "etc" / "motd").read_text() == "app 1.2\n" and (dirs[1] / "bin" / "hello").exists()
    assert sha(other.layers[0]) not in reg.fetched  # the other platform's layer never came
    statuses = [(m.get("id", ""), m["status"]) for m in msgs if m["status"] != "Downloading"]
    short = sha(TOP[0])[7:19]
    assert statuses[0] == ("1.2", "Pulling from team/app")
    assert (short, "Pulling fs layer") in statuses and (short, "Verifying Checksum") in statuses
    assert (short, "Pull complete") in statuses
    assert statuses[-2:] == [("", f"Digest: {index_digest}"),
                             ("", f"Status: Downloaded newer image for {reg.host}/team/app:1.2")]

    again: list[dict[str, Any]] = []

    async def emit2(m: dict[str, Any]) -> None:
        again.append(m)

    assert (await client.pull(ref, ALICE, store, emit2)).up_to_date
    assert again[-1]["status"] == f"Status: Image is up to date for {reg.host}/team/app:1.2"


async def test_layers_are_shared(reg: FakeRegistry, client: RegistryClient, store: ImageStore) -> None:
    reg.add_image("a", "1", [BASE])
    reg.add_image("b", "1", [BASE, TOP])
    await client.pull(parse(f"{reg.host}/a:1"), ALICE, store)
    msgs: list[dict[str, Any]] = []

    async def emit(m: dict[str, Any]) -> None:
        msgs.append(m)

    await client.pull(parse(f"{reg.host}/b:1"), ALICE, store, emit)
    assert reg.fetched.count(sha(BASE[0])) == 1  # the base layer came once, for both images
    assert {"status": "Already exists", "progressDetail": {}, "id": sha(BASE[0])[7:19]} in msgs
    a, b = store.resolve(f"{reg.host}/a:1"), store.resolve(f"{reg.host}/b:1")
    assert a is not None and b is not None and store.layer_dirs(a)[0] == store.layer_dirs(b)[1]


async def test_digest_mismatch_is_refused(reg: FakeRegistry, client: RegistryClient, store: ImageStore) -> None:
    img = reg.add_image("app", "1", [BASE, TOP])
    reg.corrupt.add(sha(TOP[0]))
    with pytest.raises(RegistryError) as ei:
        await client.pull(parse(f"{reg.host}/app:1"), ALICE, store)
    assert ei.value.message == f"filesystem layer verification failed for digest {sha(TOP[0])}"
    assert store.resolve(f"{reg.host}/app:1") is None
    assert not store.has_layer(TOP[1]) and not list(store.layers.glob(".dl-*"))

    reg.corrupt = {sha(img.config)}
    with pytest.raises(RegistryError) as ei:
        await client.pull(parse(f"{reg.host}/app:1"), ALICE, store)
    assert ei.value.message == f"image config verification failed for digest {sha(img.config)}"

    reg.corrupt = {img.digest}
    with pytest.raises(RegistryError) as ei:
        await client.pull(parse(f"{reg.host}/app@{img.digest}"), ALICE, store)
    assert ei.value.message == f"manifest verification failed for digest {img.digest}"
    reg.corrupt = {"1"}  # by tag: checked against the registry's Docker-Content-Digest
    with pytest.raises(RegistryError) as ei:
        await client.pull(parse(f"{reg.host}/app:1"), ALICE, store)
    assert ei.value.message == f"manifest verification failed for digest {img.digest}"
    assert store.resolve(f"{reg.host}/app:1") is None


async def test_diff_id_mismatch_is_refused(reg: FakeRegistry, client: RegistryClient, store: ImageStore) -> None:
    reg.add_image("app", "1", [(TOP[0], BASE[1])])  # the config claims another layer's content
    with pytest.raises(RegistryError) as ei:
        await client.pull(parse(f"{reg.host}/app:1"), ALICE, store)
    assert ei.value.message == "layers from manifest don't match image configuration"
    assert not store.has_layer(TOP[1]) and not store.has_layer(BASE[1])


async def test_errors_in_dockers_words(reg: FakeRegistry, client: RegistryClient, store: ImageStore) -> None:
    reg.add_image("app", "1", [BASE])
    with pytest.raises(RegistryError) as ei:
        await client.pull(parse(f"{reg.host}/app:nope"), ALICE, store)
    assert (ei.value.status, ei.value.message) == (
        404, f"manifest for {reg.host}/app:nope not found: manifest unknown: manifest unknown")
    with pytest.raises(RegistryError) as ei:
        await client.pull(parse(f"{reg.host}/app:1"), AuthConfig(), store)
    assert ei.value.message.endswith("received unexpected HTTP status: 401 Unauthorized")
    with pytest.raises(RegistryError) as ei:
        await client.pull(parse(f"{reg.host}/app:1"), AuthConfig(username="alice", password="no"), store)
    assert ei.value.message.startswith(f'Get "http://{reg.host}/token?') and "401" in ei.value.message


async def test_basic_auth_and_login(client: RegistryClient, store: ImageStore) -> None:
    reg = await FakeRegistry(auth="basic").start()
    try:
        reg.add_image("app", "1", [BASE])
        await client.login(AuthConfig(username="alice", password="secret", serveraddress=reg.host))
        with pytest.raises(RegistryError) as ei:
            await client.login(AuthConfig(username="alice", password="wrong", serveraddress=f"http://{reg.host}"))
        assert (ei.value.status, ei.value.message) == (
            401, f"login attempt to http://{reg.host}/v2/ failed with status: 401 Unauthorized")
        await client.pull(parse(f"{reg.host}/app:1"), ALICE, store)
        with pytest.raises(RegistryError) as ei:
            await client.pull(parse(f"{reg.host}/app:1"), AuthConfig(), store)
        assert ei.value.message == "unauthorized: authentication required"
    finally:
        await reg.stop()


async def test_bearer_login(reg: FakeRegistry, client: RegistryClient) -> None:
    await client.login(AuthConfig(username="alice", password="secret", serveraddress=reg.host))
    with pytest.raises(RegistryError) as ei:
        await client.login(AuthConfig(username="alice", password="wrong", serveraddress=reg.host))
    assert ei.value.message == f"login attempt to http://{reg.host}/v2/ failed with status: 401 Unauthorized"


async def test_inspect(reg: FakeRegistry, client: RegistryClient) -> None:
    mine = reg.add_image("app", "single", [BASE])
    index_digest = reg.add_index("app", "multi", [(mine, "linux", "amd64"), (mine, "linux", "arm64")])
    got = await client.inspect(parse(f"{reg.host}/app:multi"), ALICE)
    assert got["Descriptor"]["digest"] == index_digest
    assert got["Descriptor"]["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert got["Platforms"] == [{"architecture": "amd64", "os": "linux"}, {"architecture": "arm64", "os": "linux"}]
    single = await client.inspect(parse(f"{reg.host}/app:single"), ALICE)
    assert single["Descriptor"] == {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                    "digest": mine.digest, "size": len(mine.manifest)}
    assert single["Platforms"] == [{"architecture": go_arch(), "os": "linux"}]


async def test_blocked_and_unreachable_registries(client: RegistryClient, store: ImageStore) -> None:
    for name in ("busybox", "reg.example:5000/app"):
        with pytest.raises(RegistryError) as ei:
            await client.pull(parse(name), AuthConfig(), store)
        assert "is blocked on this node (--block-registry)" in ei.value.message
    hub = RegistryClient(blocked=["docker.io"])
    try:
        assert hub.is_blocked("registry-1.docker.io") and not hub.is_blocked("reg.example")
    finally:
        await hub.close()
    from tests.support import free_port

    port = free_port()
    with pytest.raises(RegistryError) as ei:
        await client.pull(parse(f"127.0.0.1:{port}/app"), AuthConfig(), store)
    assert ei.value.message == f'Get "https://127.0.0.1:{port}/v2/": dial tcp 127.0.0.1:{port}: connect: ' \
                               "connection refused"


async def test_puller_shares_one_pull(reg: FakeRegistry, client: RegistryClient, store: ImageStore) -> None:
    reg.add_image("app", "1", [BASE, TOP])
    puller = Puller(client, store)
    image = f"{reg.host}/app:1"
    assert puller.needs_pull(image) and not puller.needs_pull("sha256:" + "0" * 64)
    assert not puller.needs_pull("Not A Name")
    a, b = puller.pull(image, ALICE.encode()), puller.pull(image, ALICE.encode())
    assert a is b
    await asyncio.gather(a, b)
    assert reg.fetched.count(sha(TOP[0])) == 1 and not puller.needs_pull(image)
    failing = puller.pull(f"{reg.host}/app:2")
    with pytest.raises(RegistryError):
        await failing
    await puller.close()


async def test_blob_redirects(reg: FakeRegistry, client: RegistryClient, store: ImageStore) -> None:
    reg.add_image("app", "1", [BASE])
    reg.redirect_to = "self"  # a blob store on the same host: followed, with the registry's token
    await client.pull(parse(f"{reg.host}/app:1"), ALICE, store)
    assert reg.storage_auth and set(reg.storage_auth) == {"Bearer tok-alice"}
    reg.add_image("app", "2", [TOP])
    reg.redirect_to = "http://blobs.example:9"  # elsewhere, and blocked: refused before any lookup
    with pytest.raises(RegistryError) as ei:
        await client.pull(parse(f"{reg.host}/app:2"), ALICE, store)
    assert "registry blobs.example:9 is blocked on this node" in ei.value.message


# ---------------------------------------------------------------- progress, as dockerd sends it


def noise(n: int, seed: bytes) -> bytes:
    """``n`` bytes that gzip cannot shrink (so the blob is as big as asked), the same every run."""
    out, block = bytearray(), seed
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


class FrozenClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_pull_progress_in_dockerds_order(reg: FakeRegistry, store: ImageStore) -> None:
    """Five layers: each announced, three downloading at once (the others ``Waiting``), each
    ``Downloading`` with bytes, verified, then extracted bottom first with bytes, ``Pull complete``;
    with a clock that stands still, a big layer's download says only its first step and its end."""
    big = layer({"big": noise(3 << 20, b"big")})
    small = [layer({f"f{i}": f"layer {i}\n".encode()}) for i in range(4)]
    layers = [big, *small]
    reg.add_image("five", "1", layers)
    client = RegistryClient(blocked=["all"], clock=FrozenClock())
    msgs: list[dict[str, Any]] = []

    async def emit(m: dict[str, Any]) -> None:
        msgs.append(m)

    try:
        await client.pull(parse(f"{reg.host}/five:1"), ALICE, store, emit)
    finally:
        await client.close()
    ids = [sha(blob)[7:19] for blob, _ in layers]
    steps = [(m.get("id", ""), m["status"]) for m in msgs]
    assert steps[0] == ("1", "Pulling from five")
    assert steps[1:6] == [(i, "Pulling fs layer") for i in ids]
    assert [i for i, st in steps if st == "Waiting"] == ids[3:]  # three downloads at a time
    for i in ids:
        mine = [st for j, st in steps if j == i]
        assert mine[0] == "Pulling fs layer" and mine[-1] == "Pull complete"
        order = [st for st in mine if st not in ("Downloading", "Extracting", "Waiting")]
        assert order == ["Pulling fs layer", "Verifying Checksum", "Download complete", "Pull complete"], mine
        assert mine.index("Download complete") < mine.index("Extracting") < mine.index("Pull complete")
    assert [i for i, st in steps if st == "Pull complete"] == ids  # extracted bottom first
    down = [m for m in msgs if m["status"] == "Downloading" and m["id"] == ids[0]]
    total = len(big[0])
    assert down[0]["progressDetail"]["total"] == total and 0 < down[0]["progressDetail"]["current"] < total
    assert {m["progressDetail"]["current"] for m in down[1:]} == {total}  # the total and/or the end
    assert len(down) <= 3
    assert down[0]["progress"].startswith("[") and down[-1]["progress"].startswith("[" + "=" * 50 + ">]")
    extracting = [m for m in msgs if m["status"] == "Extracting" and m["id"] == ids[0]]
    assert extracting[-1]["progressDetail"] == {"current": total, "total": total}
    assert steps[-2:] == [("", f"Digest: {sha(reg.manifests[('five', '1')][1])}"),
                          ("", f"Status: Downloaded newer image for {reg.host}/five:1")]


async def test_pull_progress_is_paced_by_the_clock(reg: FakeRegistry, store: ImageStore) -> None:
    """A clock that moves 100 ms at every look: a report each time more than 1 % of a 3 MiB layer
    (less than 512 KiB) came since the last."""
    big = layer({"big": noise(3 << 20, b"paced")})
    reg.add_image("paced", "1", [big])
    clock = FrozenClock()

    def ticking() -> float:
        clock.now += 0.1
        return clock.now

    client = RegistryClient(blocked=["all"], clock=ticking)
    msgs: list[dict[str, Any]] = []

    async def emit(m: dict[str, Any]) -> None:
        msgs.append(m)

    try:
        await client.pull(parse(f"{reg.host}/paced:1"), ALICE, store, emit)
    finally:
        await client.close()
    for action in ("Downloading", "Extracting"):
        done = [m["progressDetail"]["current"] for m in msgs if m["status"] == action]
        total = len(big[0])
        assert 20 <= len(done) <= 103, (action, done)  # at most one a percent, the total and the end
        assert all(b - a > total // 100 for a, b in itertools.pairwise(done[:-2])), (action, done)
        assert done[-1] == total
