"""Debian's docker-compose 1.29 against ``shoal daemon`` on runc: the course's kind of compose file
(three services, a user network beside the project's default one, a named volume, ``depends_on``
with ``condition: service_healthy``, a healthcheck, environment, a published port) through ``up -d``,
``ps``, ``exec`` (``-T``, and with a terminal, through the docker CLI and through compose's own
hijacked connection), ``logs``, ``up --scale``, ``restart``, a recreate, a request from one service to
another by service name and by alias, and ``down -v`` with nothing left behind: no container, network
or volume (``docker ps -a``, ``docker network ls``, ``docker volume ls``), no bridge, namespace or
mount on the host. Once on a node in no swarm, once on a manager whose service's task containers
compose must never take for its own.

``COMPOSE_HTTP_LOG=1`` sends compose's requests through ``apilog.ApiLog`` and prints them when a step
fails (what compose asked and what it was told).
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.apilog import ApiLog
from tests.e2e.conftest import WEB_CMD, ShoalDaemon, leftover_mounts, rootfs_tar, start_daemon, stop_daemon
from tests.support import free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

COMPOSE = shutil.which("docker-compose")

# The course's kind of file. Subnets are the test's (10.213.0.0/16), given through ipam.
COMPOSE_FILE = """\
version: "2.4"
services:
  db:
    image: web:latest
    command: ["sh", "-c", "echo db-$$ROLE > /data/ready; echo db started; exec httpd -f -p 80 -h /www"]
    environment:
      ROLE: primary
    volumes:
      - data:/data
    healthcheck:
      test: ["CMD", "cat", "/data/ready"]
      interval: 1s
      timeout: 2s
      retries: 30
    networks: [back]
  api:
    image: web:latest
    depends_on:
      db:
        condition: service_healthy
    environment:
      - DB_HOST=db
    networks:
      back:
        aliases: [backend]
      default: {{}}
    ports:
      - "127.0.0.1:{port}:80"
  web:
    image: web:latest
    depends_on: [api]
    environment:
      GREETING: ${{GREETING:-hello}}
    command: ["sh", "-c", "echo web says $$GREETING; exec httpd -f -p 80 -h /www"]
volumes:
  data: {{}}
networks:
  default:
    ipam:
      config:
        - subnet: 10.213.{default}.0/24
  back:
    ipam:
      config:
        - subnet: 10.213.{back}.0/24
"""

GET = r'printf "GET / HTTP/1.0\r\n\r\n" | nc {host} 80'


@pytest.fixture(scope="module")
def shoal(e2e_base: Path) -> Iterator[ShoalDaemon]:
    if not shutil.which("runc"):
        pytest.skip("needs runc")
    if COMPOSE is None:
        pytest.skip("needs docker-compose (Debian's 1.29)")
    d = start_daemon(e2e_base / "compose", "runc")
    try:
        d.docker("import", "-c", WEB_CMD, "-", "web:latest", input=rootfs_tar(e2e_base))
        yield d
    finally:
        if d.running():
            ids = d.docker("ps", "-aq", "--no-trunc", check=False).stdout.split()
            if ids:
                d.docker("rm", "-f", *ids, check=False)
            d.docker("swarm", "leave", "--force", check=False)
        stop_daemon(d)
    assert not leftover_mounts(e2e_base / "compose"), "mounts left behind"


class Project:
    """One compose project in a directory of its own, run with the daemon's DOCKER_HOST (or through a
    logging proxy)."""

    def __init__(self, d: ShoalDaemon, base: Path, name: str, subnets: tuple[int, int]) -> None:
        self.d, self.name, self.subnets = d, name, subnets
        self.dir = base / f"project-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        (self.dir / "docker-compose.yml").write_text(
            COMPOSE_FILE.format(port=self.port, default=subnets[0], back=subnets[1]))
        self.log: ApiLog | None = None
        if os.environ.get("COMPOSE_HTTP_LOG"):
            self.log = ApiLog(base / f"proxy-{name}.sock", Path(d.sock)).start()

    def env(self, **extra: str) -> dict[str, str]:
        env = self.d.env()
        if self.log is not None:
            env["DOCKER_HOST"] = self.log.host
        env.pop("GREETING", None)
        env.pop("COMPOSE_INTERACTIVE_NO_CLI", None)
        return {**env, **extra}

    def _explain(self, what: str, r: subprocess.CompletedProcess[str]) -> str:
        sent = "\n".join(ex.line() for ex in self.log.take()) if self.log is not None else ""
        return f"{what}: exit {r.returncode}\n{r.stdout}\n{r.stderr}\n{sent}"

    def run(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        assert COMPOSE is not None
        r = subprocess.run([COMPOSE, "-p", self.name, *args], cwd=self.dir, env=self.env(**env),
                           capture_output=True, text=True, timeout=240)
        if check:
            assert r.returncode == 0, self._explain("docker-compose " + " ".join(args), r)
        elif self.log is not None:
            self.log.take()
        return r

    def on_tty(self, *args: str, **env: str) -> tuple[int, str]:
        """docker-compose on a terminal of its own (``exec`` without ``-T`` needs one): its exit code
        and what it printed there."""
        assert COMPOSE is not None
        master, slave = pty.openpty()
        proc = subprocess.Popen([COMPOSE, "-p", self.name, *args], cwd=self.dir, env=self.env(**env),
                                stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        out = b""
        try:
            while True:
                ready, _, _ = select.select([master], [], [], 60)
                if not ready:
                    break
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: it has exited and closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
        finally:
            os.close(master)
            code = proc.wait(timeout=60)
        return code, out.decode(errors="replace")

    def ps(self) -> dict[str, dict[str, str]]:
        out = self.run("ps").stdout
        lines = out.splitlines()
        table: dict[str, dict[str, str]] = {}
        for line in lines[2:]:  # the header and its rule
            name = line.split()[0]
            table[name] = {"line": line}
        return table

    def container(self, service: str, number: int = 1) -> dict[str, object]:
        out = self.d.docker("inspect", f"{self.name}_{service}_{number}").stdout
        c: dict[str, object] = json.loads(out)[0]
        return c

    def close(self) -> None:
        """Whatever a failed test left: down -v, then anything still labelled with the project."""
        self.run("down", "-v", "--remove-orphans", check=False)
        label = f"label=com.docker.compose.project={self.name}"
        ids = self.d.docker("ps", "-aq", "--no-trunc", "--filter", label, check=False).stdout.split()
        if ids:
            self.d.docker("rm", "-f", "-v", *ids, check=False)
        for kind in ("network", "volume"):
            names = self.d.docker(kind, "ls", "-q", "--filter", label, check=False).stdout.split()
            if names:
                self.d.docker(kind, "rm", *names, check=False)
        if self.log is not None:
            self.log.stop()


@contextmanager
def project(d: ShoalDaemon, base: Path, name: str, subnets: tuple[int, int]) -> Iterator[Project]:
    p = Project(d, base, name, subnets)
    try:
        yield p
    finally:
        p.close()


def _links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


def _get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
        return str(r.read().decode())


def scenario(d: ShoalDaemon, p: Project) -> None:
    """The compose file from up to down, as the course runs it; nothing of it left after."""
    r = p.run("up", "-d")
    for what in (f'Creating network "{p.name}_back" with the default driver',
                 f'Creating network "{p.name}_default" with the default driver',
                 f'Creating volume "{p.name}_data" with default driver',
                 f"Creating {p.name}_db_1 ... done", f"Creating {p.name}_api_1 ... done",
                 f"Creating {p.name}_web_1 ... done"):
        assert what in r.stderr, r.stderr

    # The project's networks are the node's own bridge networks, with compose's labels.
    nets = {}
    for net in ("default", "back"):
        [info] = json.loads(d.docker("network", "inspect", f"{p.name}_{net}").stdout)
        assert (info["Driver"], info["Scope"]) == ("bridge", "local"), info
        assert info["Labels"]["com.docker.compose.project"] == p.name
        assert info["Labels"]["com.docker.compose.network"] == net
        nets[net] = info["Id"]
    [vol] = json.loads(d.docker("volume", "inspect", f"{p.name}_data").stdout)
    assert vol["Labels"]["com.docker.compose.volume"] == "data"
    # found by compose's labels, as the docker CLI filters them
    label = f"label=com.docker.compose.project={p.name}"
    listed = d.docker("network", "ls", "--no-trunc", "-q", "--filter", label).stdout.split()
    assert sorted(listed) == sorted(nets.values())
    assert d.docker("network", "ls", "-q", "--filter", f"{label}-other").stdout == ""
    assert d.docker("volume", "ls", "-q", "--filter", label).stdout.split() == [f"{p.name}_data"]
    assert d.docker("volume", "ls", "-q", "--filter", "label=com.docker.compose.volume=nothing").stdout == ""

    # ps: the three services up, the database healthy (api waited for it), the published port.
    table = p.ps()
    assert "Up (healthy)" in table[f"{p.name}_db_1"]["line"]
    assert sorted(table) == [f"{p.name}_api_1", f"{p.name}_db_1", f"{p.name}_web_1"]
    assert "Up" in table[f"{p.name}_web_1"]["line"]
    assert f"127.0.0.1:{p.port}->80/tcp" in table[f"{p.name}_api_1"]["line"]
    assert "hello from shoal" in wait_for(lambda: _get(p.port), what="the published port")
    ports = d.docker("ps", "--filter", f"name={p.name}_api_1", "--format", "{{.Ports}}").stdout.strip()
    assert ports == f"127.0.0.1:{p.port}->80/tcp"

    # What compose keeps in the containers: its labels, the networks with their aliases.
    api = p.container("api")
    labels = api["Config"]["Labels"]  # type: ignore[index]
    assert labels["com.docker.compose.service"] == "api" and labels["com.docker.compose.container-number"] == "1"
    networks = api["NetworkSettings"]["Networks"]  # type: ignore[index]
    assert sorted(networks) == [f"{p.name}_back", f"{p.name}_default"]
    assert "backend" in networks[f"{p.name}_back"]["Aliases"] and "api" in networks[f"{p.name}_back"]["Aliases"]
    assert networks[f"{p.name}_back"]["NetworkID"] == nets["back"]
    assert networks[f"{p.name}_back"]["IPAddress"].startswith(f"10.213.{p.subnets[1]}.")
    assert api["NetworkSettings"]["IPAddress"] == ""  # the top-level fields are the default bridge's

    # exec -T, a service reached by its name and by its alias over the user networks.
    out = p.run("exec", "-T", "web", "sh", "-c", GET.format(host="api")).stdout
    assert "hello from shoal" in out, out
    out = p.run("exec", "-T", "db", "sh", "-c", GET.format(host="backend")).stdout
    assert "hello from shoal" in out, out
    out = p.run("exec", "-T", "api", "sh", "-c", GET.format(host="db") + "; echo $DB_HOST").stdout
    assert "hello from shoal" in out and out.rstrip().endswith("db"), out
    out = p.run("exec", "-T", "db", "sh", "-c", "echo $ROLE; cat /data/ready").stdout
    assert out.split() == ["primary", "db-primary"]
    r = p.run("exec", "-T", "web", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    # ... and through compose's own hijacked connection (docker-py) instead of the docker CLI
    r = p.run("exec", "-T", "web", "sh", "-c", "echo out; exit 4", check=False, COMPOSE_INTERACTIVE_NO_CLI="1")
    assert (r.returncode, r.stdout) == (4, "out\n")

    # exec with a terminal: through the docker CLI, and through compose itself.
    code, out = p.on_tty("exec", "web", "sh", "-c", "tty; echo done")
    assert code == 0 and "/dev/pts/" in out and "done" in out, out
    code, out = p.on_tty("exec", "web", "sh", "-c", "tty; exit 5", COMPOSE_INTERACTIVE_NO_CLI="1")
    assert code == 5 and "/dev/pts/" in out, out

    # logs
    out = p.run("logs", "--no-color").stdout
    assert f"Attaching to {p.name}_web_1, {p.name}_api_1, {p.name}_db_1" in out, out
    assert "db started" in out and "web says hello" in out, out

    # scale: two more web containers, each reaching the api by name
    r = p.run("up", "-d", "--scale", "web=3")
    assert f"{p.name}_db_1 is up-to-date" in r.stderr and f"{p.name}_api_1 is up-to-date" in r.stderr, r.stderr
    assert f"Creating {p.name}_web_3 ... done" in r.stderr, r.stderr
    assert sorted(p.ps()) == sorted(f"{p.name}_{s}" for s in ("api_1", "db_1", "web_1", "web_2", "web_3"))
    out = p.run("exec", "-T", "--index=3", "web", "sh", "-c", GET.format(host="api")).stdout
    assert "hello from shoal" in out, out

    # restart: every container again, the database healthy again, the data kept
    r = p.run("restart")
    assert f"Restarting {p.name}_db_1  ... done" in r.stderr, r.stderr
    wait_for(lambda: "(healthy)" in p.ps()[f"{p.name}_db_1"]["line"], timeout=60, what="db healthy after restart")
    assert all(" Up" in row["line"] for row in p.ps().values())
    assert p.run("logs", "--no-color", "db").stdout.count("db started") == 2

    # a changed service is recreated (the old container renamed aside, then removed); scale back to 1
    r = p.run("up", "-d", "--scale", "web=1", GREETING="changed")
    assert re.search(rf"Recreating {p.name}_web_1 +\.\.\. done", r.stderr), r.stderr
    assert sorted(p.ps()) == sorted(f"{p.name}_{s}" for s in ("api_1", "db_1", "web_1"))
    assert "web says changed" in p.run("logs", "--no-color", "web").stdout
    out = p.run("exec", "-T", "web", "sh", "-c", GET.format(host="api")).stdout
    assert "hello from shoal" in out, out

    # down -v: nothing left
    ids = d.docker("ps", "-aq", "--no-trunc", "--filter", f"label=com.docker.compose.project={p.name}").stdout.split()
    assert len(ids) == 3
    r = p.run("down", "-v")
    for what in (f"Removing network {p.name}_back", f"Removing network {p.name}_default",
                 f"Removing volume {p.name}_data"):
        assert what in r.stderr, r.stderr
    assert p.run("ps").stdout.splitlines()[2:] == []
    assert not any(p.name in line for line in d.docker("ps", "-a").stdout.splitlines()[1:])
    assert not any(p.name in line for line in d.docker("network", "ls").stdout.splitlines()[1:])
    assert not any(p.name in line for line in d.docker("volume", "ls").stdout.splitlines()[1:])
    links = _links()
    assert not any(f"br-{nid[:12]}" in links for nid in nets.values()), links
    netns = d.exec_root / "netns"
    left = [n.name for n in netns.iterdir()] if netns.exists() else []
    assert not any(cid in n for cid in ids for n in left), left
    with open("/proc/mounts") as f:
        mounts = f.read()
    assert not any(cid in mounts for cid in ids)


def test_compose_on_a_node_in_no_swarm(shoal: ShoalDaemon, e2e_base: Path) -> None:
    with project(shoal, e2e_base, "nsw", (230, 231)) as p:
        scenario(shoal, p)
    assert shoal.docker("ps", "-aq").stdout == ""


def test_compose_on_a_manager_beside_a_service(shoal: ShoalDaemon, e2e_base: Path) -> None:
    shoal.docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", f"127.0.0.1:{free_port()}")
    try:
        shoal.docker("service", "create", "-d", "--name", "svc", "--replicas", "2", "web:latest")
        wait_for(lambda: len(shoal.docker("ps", "-q").stdout.split()) == 2, timeout=60, what="the service's tasks")
        tasks = sorted(shoal.docker("ps", "-q", "--no-trunc").stdout.split())
        with project(shoal, e2e_base, "mgr", (232, 233)) as p:
            scenario(shoal, p)  # its networks are local bridge ones there, never swarm overlays
        assert sorted(shoal.docker("ps", "-q", "--no-trunc").stdout.split()) == tasks
    finally:
        shoal.docker("service", "rm", "svc", check=False)
        shoal.docker("swarm", "leave", "--force", check=False)
