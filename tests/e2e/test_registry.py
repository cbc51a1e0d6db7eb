"""Pulling from a real registry: Debian's ``docker-registry`` on loopback with htpasswd auth, a
busybox-static image pushed into it with ``skopeo`` (a docker-archive, and an OCI index of two
platforms), and the real docker CLI against ``shoal daemon``: ``docker login``, ``docker pull``,
``docker service create --with-registry-auth`` (the digest pinned in the spec, the task pulling its
image on the node), Swarm's words when an image cannot be had, and each layer's progress as the docker
CLI and ``shoal pull`` draw it (``docker pull``/``docker load`` on a terminal and through a pipe)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shoal.runtime.images import go_arch
from tests.e2e.conftest import BUSYBOX, ShoalDaemon, leftover_mounts, start_daemon, stop_daemon
from tests.e2e.terminal import on_terminal
from tests.support import free_port, rows, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RUNTIME = "runc" if shutil.which("runc") else "process"
USER, PASSWORD = "alice", "s3cret-pw"
CMD = ["sh", "-c", "echo hello from the registry; while true; do sleep 1; done"]
INDEX_MT = "application/vnd.oci.image.index.v1+json"
MANIFEST_MT = "application/vnd.oci.image.manifest.v1+json"


@dataclass
class Registry:
    host: str
    index_digest: str  # what app:1.2 names: an OCI index of linux/<this arch> and linux/<another>
    single_digest: str  # app:1.1, pushed from a docker-archive


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def rootfs_tar() -> bytes:
    """busybox-static and the applets the image's command uses, as one uncompressed layer."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for d in ("bin", "tmp"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tf.addfile(info)
        with open(BUSYBOX, "rb") as f:
            data = f.read()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(data), 0o755
        tf.addfile(info, io.BytesIO(data))
        for applet in ("sh", "echo", "sleep", "true"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tf.addfile(link)
    return buf.getvalue()


def config(arch: str, diff_id: str, version: str) -> bytes:
    return json.dumps({"architecture": arch, "os": "linux", "config": {"Cmd": CMD, "Labels": {"version": version}},
                       "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def docker_archive(path: Path, layer: bytes) -> None:
    with tarfile.open(path, "w") as tf:
        _add(tf, "layer.tar", layer)
        _add(tf, "config.json", config(go_arch(), sha(layer), "1.1"))
        _add(tf, "manifest.json", json.dumps([{"Config": "config.json", "RepoTags": ["app:1.1"],
                                                "Layers": ["layer.tar"]}]).encode())


def oci_layout(root: Path, layer: bytes, tag: str) -> None:
    """An OCI image layout whose ``tag`` is an index: this machine's architecture and one other."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict[str, object]:
        (blobs / sha(data).removeprefix("sha256:")).write_bytes(data)
        return {"digest": sha(data), "size": len(data)}

    gz = gzip.compress(layer, mtime=0)
    entries = []
    for arch in (go_arch(), "arm64" if go_arch() != "arm64" else "amd64"):
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MANIFEST_MT,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **put(config(arch, sha(layer), tag))},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **put(gz)}],
        }).encode()
        entries.append({"mediaType": MANIFEST_MT, **put(manifest), "platform": {"architecture": arch, "os": "linux"}})
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX_MT, "manifests": entries}).encode()
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": INDEX_MT, **put(index), "annotations": {"org.opencontainers.image.ref.name": tag}}]}))


def skopeo(*args: str) -> str:
    r = subprocess.run(["skopeo", "--insecure-policy", *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def registry(e2e_base: Path) -> Iterator[Registry]:
    missing = [b for b in ("docker-registry", "skopeo", "htpasswd") if not shutil.which(b)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install docker-registry skopeo apache2-utils; "
                    "scripts/install-deps.sh installs them)")
    d = e2e_base / "registry"
    d.mkdir()
    pw = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], capture_output=True, text=True, check=True).stdout
    (d / "htpasswd").write_text(pw)
    port = free_port()
    host = f"127.0.0.1:{port}"
    (d / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {d / 'storage'}\n"
        f"http:\n  addr: {host}\n  secret: shoal-e2e\n"
        f"auth:\n  htpasswd:\n    realm: shoal-e2e\n    path: {d / 'htpasswd'}\n")
    with open(d / "registry.log", "wb") as log:
        proc = subprocess.Popen(["docker-registry", "serve", str(d / "config.yml")], stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                         f"http://{host}/v2/"], capture_output=True, text=True).stdout == "401",
                 timeout=15, what="the registry to answer")
        layer = rootfs_tar()
        docker_archive(d / "app.tar", layer)
        creds = ["--dest-creds", f"{USER}:{PASSWORD}", "--dest-tls-verify=false"]
        skopeo("copy", "-q", *creds, f"docker-archive:{d / 'app.tar'}", f"docker://{host}/app:1.1")
        oci_layout(d / "oci", layer, "1.2")
        skopeo("copy", "-q", "--all", *creds, f"oci:{d / 'oci'}:1.2", f"docker://{host}/app:1.2")
        src = ["--creds", f"{USER}:{PASSWORD}", "--tls-verify=false"]
        digests = [sha(skopeo("inspect", "--raw", *src, f"docker://{host}/app:{t}").encode()) for t in ("1.2", "1.1")]
        yield Registry(host, digests[0], digests[1])
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def shoal(e2e_base: Path, registry: Registry) -> Iterator[ShoalDaemon]:
    # Under the module's temp dir, so that the docker CLI's config (the login) is this test's own.
    d = start_daemon(e2e_base / "node", RUNTIME)
    try:
        yield d
    finally:
        d.docker("swarm", "leave", "--force", check=False)
        stop_daemon(d)
        print(d.log.read_text()[-3000:])
    assert not leftover_mounts(e2e_base / "node"), "mounts left behind"


def digest_warning(image: str) -> str:
    return (f"image {image} could not be accessed on a registry to record\nits digest. Each node will access "
            f"{image} independently,\npossibly leading to different nodes running different\nversions of the image.\n")


def task_row(d: ShoalDaemon, service: str, state: str) -> list[str]:
    return wait_for(lambda: [r for r in rows(d.docker("service", "ps", "--no-trunc", service).stdout)
                             if r[5].startswith(state)], what=f"a {state} task of {service}")[0]


def test_login(shoal: ShoalDaemon, registry: Registry) -> None:
    bad = shoal.docker("login", registry.host, "-u", USER, "--password-stdin", input=b"wrong\n", check=False)
    assert bad.returncode != 0
    assert f"login attempt to http://{registry.host}/v2/ failed with status: 401 Unauthorized" in bad.stderr
    good = shoal.docker("login", registry.host, "-u", USER, "--password-stdin", input=PASSWORD.encode() + b"\n")
    assert "Login Succeeded" in good.stdout


def test_pull(shoal: ShoalDaemon, registry: Registry) -> None:
    out = shoal.docker("pull", f"{registry.host}/app:1.1").stdout
    assert "1.1: Pulling from app" in out and "Pull complete" in out
    assert f"Digest: {registry.single_digest}" in out
    assert f"Status: Downloaded newer image for {registry.host}/app:1.1" in out
    assert out.splitlines()[-1] == f"{registry.host}/app:1.1"
    again = shoal.docker("pull", f"{registry.host}/app:1.1").stdout
    assert f"Status: Image is up to date for {registry.host}/app:1.1" in again
    # app:1.2 is an index; this machine's entry has the same layer content: unpacked once, shared.
    out = shoal.docker("pull", f"{registry.host}/app:1.2").stdout
    assert "Already exists" in out and f"Digest: {registry.index_digest}" in out
    info = json.loads(shoal.docker("image", "inspect", f"{registry.host}/app:1.2").stdout)[0]
    assert info["RepoDigests"] == [f"{registry.host}/app@{registry.index_digest}"]
    assert info["Architecture"] == go_arch() and info["Config"]["Cmd"] == CMD
    names = {(r[0], r[1]) for r in rows(shoal.docker("images").stdout)}
    assert {(f"{registry.host}/app", "1.1"), (f"{registry.host}/app", "1.2")} <= names
    missing = shoal.docker("pull", f"{registry.host}/nosuch:1.0", check=False)
    assert missing.returncode != 0
    assert (f"Error response from daemon: manifest for {registry.host}/nosuch:1.0 not found: manifest unknown: "
            "manifest unknown") in missing.stderr
    # Gone again, so that the service's task has to pull it on the node.
    shoal.docker("rmi", f"{registry.host}/app:1.1", f"{registry.host}/app:1.2")


def test_service_with_registry_auth_pins_the_digest(shoal: ShoalDaemon, registry: Registry) -> None:
    shoal.docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", f"127.0.0.1:{free_port()}")
    image = f"{registry.host}/app:1.2"
    r = shoal.docker("service", "create", "-d", "--with-registry-auth", "--name", "app", image)
    assert "could not be accessed" not in r.stderr
    spec = json.loads(shoal.docker("service", "inspect", "app").stdout)[0]["Spec"]
    assert spec["TaskTemplate"]["ContainerSpec"]["Image"] == f"{image}@{registry.index_digest}"
    platforms = {(p.get("Architecture", ""), p["OS"]) for p in spec["TaskTemplate"]["Placement"]["Platforms"]}
    assert (go_arch(), "linux") in platforms and len(platforms) == 2
    for path in ("/services/app", "/tasks"):  # the credentials are kept, and never shown
        raw = subprocess.run(["curl", "-sf", "--unix-socket", shoal.sock, f"http://x{path}"], capture_output=True,
                             text=True, check=True).stdout
        assert "PullOptions" not in raw and "RegistryAuth" not in raw  # omitted, as dockerd has no such field
    row = task_row(shoal, "app", "Running")
    assert row[2] == f"{image}@{registry.index_digest}"
    assert row[6] == ""
    logs = wait_for(lambda: "hello from the registry" in shoal.docker("service", "logs", "app").stdout,
                    what="the task's output")
    assert logs
    pulled = json.loads(shoal.docker("image", "inspect", f"{registry.host}/app@{registry.index_digest}").stdout)[0]
    assert pulled["RepoTags"] == []  # pulled by digest, as Swarm's nodes do: no tag
    assert "pulled 127.0.0.1" in shoal.log.read_text()


def test_without_registry_auth_swarms_words(shoal: ShoalDaemon, registry: Registry) -> None:
    image = f"{registry.host}/app:1.2"
    r = shoal.docker("service", "create", "-d", "--name", "noauth", image)
    assert digest_warning(image) in r.stderr  # the registry wants credentials: no digest recorded
    row = task_row(shoal, "noauth", "Rejected")
    assert row[6] == f'"No such image: {image}"'  # the node has it by digest only; the tag needs a pull
    shoal.docker("service", "rm", "noauth")


def test_unknown_image_swarms_words(shoal: ShoalDaemon, registry: Registry) -> None:
    image = f"{registry.host}/nosuch:1.0"
    r = shoal.docker("service", "create", "-d", "--with-registry-auth", "--name", "ghost", image)
    assert digest_warning(image) in r.stderr
    row = task_row(shoal, "ghost", "Rejected")
    assert row[6] == f'"No such image: {image}"'
    shoal.docker("service", "rm", "ghost", "app")


def test_pull_and_load_show_each_layers_progress(shoal: ShoalDaemon, registry: Registry, e2e_base: Path) -> None:
    """On a terminal the docker CLI redraws a line per layer with its bar (``Downloading``,
    ``Extracting``, ``Loading layer``); through a pipe it prints the steps alone, and ``docker load``
    asks for no progress at all; ``shoal pull`` draws the same."""
    image = f"{registry.host}/app:1.1"
    names = "{{json .RepoTags}}{{json .RepoDigests}}"
    for iid in set(shoal.docker("images", "-q", "--no-trunc").stdout.split()):  # the layer must be pulled
        if registry.host in shoal.docker("image", "inspect", iid, "--format", names).stdout:
            shoal.docker("rmi", "-f", iid)
    out = on_terminal(["docker", "pull", image], shoal.env(), columns=200)
    assert len(set(re.findall(r"([0-9a-f]{12}): Pull complete", out))) == 1, out
    (layer_id,) = set(re.findall(r"([0-9a-f]{12}): Pull complete", out))
    assert f"{layer_id}: Pulling fs layer" in out
    for action in ("Downloading", "Extracting"):  # erase the line, write it with its bar
        assert re.search(rf"\x1b\[2K\r{layer_id}: {action} \[=*>? *\] +[0-9.]+[kM]?B/[0-9.]+[kM]?B\r", out), out
    assert re.search(rf"\x1b\[2K\r{layer_id}: Extracting \[={{50}}>\]", out), out  # to the end
    assert "\x1b[1A" in out and "\x1b[1B" in out  # up to the layer's line and back
    assert f"Status: Downloaded newer image for {image}" in out and out.rstrip().endswith(image)

    archive = str(e2e_base / "app-1.1.tar")
    shoal.docker("save", "-o", archive, image)
    diff_id = json.loads(shoal.docker("image", "inspect", image).stdout)[0]["RootFS"]["Layers"][0]
    shoal.docker("rmi", image)
    out = on_terminal(["docker", "load", "-i", archive], shoal.env(), columns=200)
    assert re.search(rf"\x1b\[2K\r{diff_id[7:19]}: Loading layer \[={{50}}>\] +[0-9.]+[kM]?B/", out), out
    assert f"Loaded image: {image}" in out
    shoal.docker("rmi", image)
    piped = shoal.docker("load", "-i", archive).stdout
    assert piped == f"Loaded image: {image}\n"  # not a terminal: the CLI asks for quiet

    shoal.docker("rmi", image)
    shoal_cli = [sys.executable, "-m", "shoal.cli.main"]
    plain = subprocess.run([*shoal_cli, "pull", image], env=shoal.env(), capture_output=True, text=True,
                           timeout=60, check=True).stdout
    assert plain.splitlines() == [
        "1.1: Pulling from app", f"{layer_id}: Pulling fs layer", f"{layer_id}: Verifying Checksum",
        f"{layer_id}: Download complete", f"{layer_id}: Pull complete", f"Digest: {registry.single_digest}",
        f"Status: Downloaded newer image for {image}", image]
    shoal.docker("rmi", image)
    drawn = on_terminal([*shoal_cli, "pull", image], shoal.env(), columns=200)
    assert re.search(rf"\x1b\[2K\r{layer_id}: Extracting \[={{50}}>\]", drawn), drawn
    assert f"Status: Downloaded newer image for {image}" in drawn
    quiet = subprocess.run([*shoal_cli, "pull", "-q", image], env=shoal.env(), capture_output=True, text=True,
                           timeout=60, check=True).stdout
    assert quiet == image + "\n"
    shoal.docker("rmi", image)
    drawn = on_terminal([*shoal_cli, "load", "-i", archive], shoal.env(), columns=200)
    assert re.search(rf"\x1b\[2K\r{diff_id[7:19]}: Loading layer \[={{50}}>\]", drawn), drawn
    assert f"Loaded image: {image}" in drawn
    shoal.docker("rmi", image)
