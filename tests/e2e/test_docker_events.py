"""The real docker CLI 28 against ``shoal daemon``: ``docker events`` following a service as it is
created, scaled and removed (the swarm's events, filtered by type and service), replaying a window
(``--since``/``--until``) and ending at a future ``--until``; image and volume events compared line by
line with a real Docker 20.10's (``tests/e2e/dockerd.py``); ``docker pull``'s event from a loopback
registry; ``docker system df`` and ``docker image prune``."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import WEB_CMD, ShoalDaemon, rootfs_tar, start_daemon, stop_daemon, web_swarm
from tests.e2e.dockerd import DOCKERD, running_dockerd
from tests.e2e.test_registry import PASSWORD, USER, Registry, registry  # noqa: F401 (a fixture)
from tests.support import free_port, rows, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# What the CLI prints for an event: its time (RFC 3339, nanoseconds, the local zone), type, action,
# actor ID, and the attributes sorted by key in parentheses.
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(?:Z|[+-]\d\d:\d\d) (\S+) (\S+) (\S*)(?: \((.*)\))?$")


def parse(line: str) -> tuple[str, str, str, dict[str, str]]:
    m = LINE.match(line)
    assert m is not None, f"not an event line: {line!r}"
    attrs = dict(kv.split("=", 1) for kv in m[4].split(", ")) if m[4] else {}
    return m[1], m[2], m[3], attrs


def now() -> str:
    return f"{time.time():.9f}"


class Stream:
    """``docker events`` running in the background, its lines gathered as they come."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(["docker", "events", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait(self, pred: Callable[[tuple[str, str, str, dict[str, str]]], bool], what: str,
             timeout: float = 60) -> tuple[str, str, str, dict[str, str]]:
        return wait_for(lambda: next((p for p in map(parse, list(self.lines)) if pred(p)), None),
                        timeout=timeout, what=what)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(10)
        self._reader.join(10)


@pytest.fixture(scope="module")
def swarm(e2e_base: Path) -> Iterator[ShoalDaemon]:
    with web_swarm(e2e_base / "events") as d:
        yield d


def test_events_follow_a_service_created_scaled_and_removed(swarm: ShoalDaemon) -> None:
    d = swarm
    since = now()
    stream = Stream(d.env(), "--filter", "type=service", "--filter", "service=evweb")
    others = Stream(d.env(), "--filter", "type=service", "--filter", "service=nosuch")
    try:
        wait_for(lambda: d.docker("info", "--format", "{{.NEventsListener}}").stdout.strip() == "2",
                 what="both streams to listen")
        sid = d.docker("service", "create", "-d", "--name", "evweb", "--replicas", "1", "web:latest").stdout.strip()
        assert stream.wait(lambda p: p[1] == "create", "service create") == ("service", "create", sid,
                                                                            {"name": "evweb"})
        d.docker("service", "scale", "-d", "evweb=3")
        stream.wait(lambda p: p[3].get("replicas.new") == "3", "the scale's update")
        d.docker("service", "rm", "evweb")
        stream.wait(lambda p: p[1] == "remove", "service remove")
        until = now()
        got = [parse(line) for line in stream.lines]
        assert all(p[0] == "service" and p[2] == sid and p[3]["name"] == "evweb" for p in got), got
        assert ("service", "update", sid, {"name": "evweb", "replicas.new": "3", "replicas.old": "1"}) in got
        assert got[0][1] == "create" and got[-1][1] == "remove"
    finally:
        stream.close()
        others.close()
    assert others.lines == []  # it listened all along; none of the events was of its service
    # The same window replayed from what the daemon keeps; the CLI exits at the past --until.
    replay = d.docker("events", "--since", since, "--until", until, "--filter", "type=service").stdout
    assert [parse(line) for line in replay.splitlines()] == got
    nodes = d.docker("events", "--since", since, "--until", until, "--filter", "scope=local").stdout
    assert all(parse(line)[0] not in ("service", "node") for line in nodes.splitlines())


def test_a_future_until_ends_the_stream(swarm: ShoalDaemon) -> None:
    d = swarm
    stream = Stream(d.env(), "--until", f"{time.time() + 3:.9f}", "--filter", "type=volume")
    try:
        wait_for(lambda: d.docker("info", "--format", "{{.NEventsListener}}").stdout.strip() == "1",
                 what="the stream to listen")
        d.docker("volume", "create", "evvol")
        assert stream.wait(lambda p: p[1] == "create", "volume create") == ("volume", "create", "evvol",
                                                                           {"driver": "local"})
        assert stream.proc.wait(30) == 0  # ended by the daemon at --until
    finally:
        stream.close()
        d.docker("volume", "rm", "evvol", check=False)


def image_and_volume_events(docker: Callable[..., subprocess.CompletedProcess[str]], base: Path) -> list[str]:
    """One sequence of image and volume commands, and the events it made (IDs numbered in order of
    appearance, times left out): the same on shoal and on Docker."""
    tar = rootfs_tar(base)
    since = now()
    docker("import", "-", "evimg:latest", input=tar)
    docker("tag", "evimg:latest", "evimg:v2")
    docker("save", "-o", str(base / "evimg.tar"), "evimg:v2")
    docker("rmi", "evimg:v2")
    docker("load", "-i", str(base / "evimg.tar"))
    docker("import", "-", input=tar)  # no name: dangling
    docker("image", "prune", "-f")
    docker("volume", "create", "evv1")
    docker("volume", "rm", "evv1")
    docker("volume", "prune", "-f")
    until = now()
    out = docker("events", "--since", since, "--until", until, "--filter", "type=image",
                 "--filter", "type=volume").stdout
    ids: dict[str, str] = {}

    def number(m: re.Match[str]) -> str:
        return ids.setdefault(m[0], f"ID{len(ids) + 1}")

    return [re.sub(r"sha256:[0-9a-f]{64}", number, line.split(" ", 1)[1]) for line in out.splitlines()]


Docker = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def docker20(e2e_base: Path) -> Iterator[Docker]:
    """The docker CLI against a real Docker 20.10 (a private dockerd), in a swarm of its own."""
    if DOCKERD is None:
        pytest.skip("needs dockerd (Debian's docker.io) to compare with")
    with running_dockerd() as dk:
        def docker(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
            r = subprocess.run(["docker", "-H", dk.host, *args], input=input, capture_output=True)
            assert r.returncode == 0, r.stderr
            return subprocess.CompletedProcess(r.args, 0, r.stdout.decode(), r.stderr.decode())

        docker("import", "-c", WEB_CMD, "-", "web:latest", input=rootfs_tar(e2e_base))
        docker("swarm", "init", "--advertise-addr", "127.0.0.1")
        try:
            yield docker
        finally:
            subprocess.run(["docker", "-H", dk.host, "swarm", "leave", "--force"], capture_output=True)


def test_image_and_volume_events_as_docker_prints_them(swarm: ShoalDaemon, docker20: Docker,
                                                        e2e_base: Path) -> None:
    (e2e_base / "cmp-shoal").mkdir(exist_ok=True)
    (e2e_base / "cmp-docker").mkdir(exist_ok=True)
    ours = image_and_volume_events(swarm.docker, e2e_base / "cmp-shoal")
    theirs = image_and_volume_events(docker20, e2e_base / "cmp-docker")
    assert ours == theirs
    assert ours[:2] == ["image tag ID1 (name=evimg:latest)", "image import ID1 (name=ID1)"]


def swarm_events(docker: Docker) -> list[str]:
    """A service created, scaled and removed, a secret and a config made and removed: the swarm's
    events, IDs numbered in order of appearance, times left out."""
    since = now()
    docker("service", "create", "-d", "--name", "evcmp", "--replicas", "1", "web:latest")
    docker("service", "scale", "-d", "evcmp=2")
    docker("secret", "create", "evsecret", "-", input=b"pw")
    docker("secret", "rm", "evsecret")
    docker("config", "create", "evconfig", "-", input=b"cfg")
    docker("config", "rm", "evconfig")
    docker("service", "rm", "evcmp")
    out = docker("events", "--since", since, "--until", now(), "--filter", "scope=swarm", "--filter", "type=service",
                 "--filter", "type=secret", "--filter", "type=config").stdout
    ids: dict[str, str] = {}

    def number(m: re.Match[str]) -> str:
        return ids.setdefault(m[0], f"ID{len(ids) + 1}")

    return [re.sub(r"\b[0-9a-z]{25}\b", number, line.split(" ", 1)[1]) for line in out.splitlines()]


def test_swarm_events_as_docker_prints_them(swarm: ShoalDaemon, docker20: Docker) -> None:
    ours = swarm_events(swarm.docker)
    assert ours == swarm_events(docker20)
    assert ours == ["service create ID1 (name=evcmp)",
                    "service update ID1 (name=evcmp, replicas.new=2, replicas.old=1)",
                    "secret create ID2 (name=evsecret)", "secret remove ID2 (name=evsecret)",
                    "config create ID3 (name=evconfig)", "config remove ID3 (name=evconfig)",
                    "service remove ID1 (name=evcmp)"]


def test_pull_event(e2e_base: Path, registry: Registry) -> None:  # noqa: F811 (the fixture)
    d = start_daemon(e2e_base / "pull", "runc" if shutil.which("runc") else "process")
    try:
        d.docker("login", registry.host, "-u", USER, "--password-stdin", input=PASSWORD.encode() + b"\n")
        since = now()
        d.docker("pull", f"{registry.host}/app:1.1")
        out = d.docker("events", "--since", since, "--until", now(), "--filter", "event=pull",
                       "--filter", f"image={registry.host}/app").stdout
        assert [parse(line) for line in out.splitlines()] == [
            ("image", "pull", f"{registry.host}/app:1.1", {"name": f"{registry.host}/app", "version": "1.1"})]
        # A task's pull on the node says so too: the pinned reference, as dockerd's executor pulls it.
        d.docker("rmi", f"{registry.host}/app:1.1")
        d.docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", f"127.0.0.1:{free_port()}")
        since = now()
        d.docker("service", "create", "-d", "--with-registry-auth", "--name", "evpull", f"{registry.host}/app:1.1")
        pinned = f"{registry.host}/app:1.1@{registry.single_digest}"

        def task_pull() -> list[tuple[str, str, str, dict[str, str]]]:
            out = d.docker("events", "--since", since, "--until", now(), "--filter", "type=image").stdout
            return [parse(line) for line in out.splitlines()]

        assert wait_for(task_pull, what="the task's pull event") == [
            ("image", "pull", pinned, {"name": f"{registry.host}/app", "version": "1.1"})]
    finally:
        d.docker("swarm", "leave", "--force", check=False)
        stop_daemon(d)


def test_system_df(swarm: ShoalDaemon) -> None:
    d = swarm
    out = d.docker("system", "df").stdout
    assert out.splitlines()[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    table = {r[0]: r[1:] for r in rows(out)}
    assert list(table) == ["Images", "Containers", "Local Volumes", "Build Cache"]
    images = len(set(d.docker("images", "-q").stdout.split()))
    assert table["Images"][0] == str(images) and images > 0
    assert table["Build Cache"] == ["0", "0", "0B", "0B"]
    verbose = d.docker("system", "df", "-v").stdout
    assert "Images space usage:" in verbose and "web" in verbose and "Build cache usage: 0B" in verbose


def test_image_prune(swarm: ShoalDaemon, e2e_base: Path) -> None:
    d = swarm
    iid = d.docker("import", "-", input=rootfs_tar(e2e_base)).stdout.strip()
    kept = d.docker("image", "prune", "-f", "--filter", "label=nosuch").stdout
    assert kept.strip() == "Total reclaimed space: 0B"
    out = d.docker("image", "prune", "-f").stdout
    assert out.startswith("Deleted Images:\n") and f"deleted: {iid}" in out
    assert "Total reclaimed space:" in out
    assert iid not in d.docker("images", "-q", "--no-trunc").stdout
    bad = d.docker("image", "prune", "-f", "--filter", "foo=bar", check=False)
    assert bad.returncode != 0 and "Error response from daemon: Invalid filter 'foo'" in bad.stderr
