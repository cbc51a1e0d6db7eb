"""The ``shoal`` client commands against a real ``shoal daemon`` (process runtime), through CliRunner.

One daemon for the module, on a unix socket under a temporary directory; the sequence follows the
Docker swarm tutorial: import an image, init, create, converge, scale, ps, logs, drain, constraints,
remove, leave. Output is checked as docker CLI 28 prints it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.support import free_port, rows, wait_for

from shoal.cli.client import Client, DockerError
from shoal.cli.main import cli

BUSYBOX = "/bin/busybox"
HOSTNAME = "shoal-cli-test"
TICK_CMD = 'CMD ["sh","-c","while true; do echo tick; sleep 1; done"]'

pytestmark = pytest.mark.skipif(not os.path.exists(BUSYBOX), reason="needs busybox-static at /bin/busybox")


@dataclass
class Daemon:
    base: Path
    host: str
    proc: subprocess.Popen[bytes]
    log: Path
    runner: CliRunner
    ui_addr: str = ""  # where its web console listens (--ui-addr)

    def run(self, *args: str, input: bytes | None = None, ok: bool = True) -> Result:
        r = self.runner.invoke(cli, ["-H", self.host, *args], input=input, catch_exceptions=False)
        if ok and r.exit_code != 0:
            raise AssertionError(f"shoal {' '.join(args)} exited {r.exit_code}:\n{r.output}\n"
                                 f"daemon log tail:\n{self.log.read_text()[-3000:]}")
        return r

    def out(self, *args: str) -> str:
        return self.run(*args).stdout






def make_image_tar(root: Path, out: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    for applet in ("sh", "echo", "sleep", "cat"):
        (root / "bin" / applet).symlink_to("busybox")
    with tarfile.open(out, "w") as tf:
        tf.add(root, arcname=".")
    return out


def task_pids(host: str) -> list[int]:
    """PIDs of the task processes the daemon started (to make sure none outlives the test)."""
    try:
        tasks = Client(host, timeout=5).get("/tasks") or []
    except DockerError:
        return []
    return [t["Status"]["ContainerStatus"]["PID"] for t in tasks
            if ((t.get("Status") or {}).get("ContainerStatus") or {}).get("PID")]


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    base = Path(tempfile.mkdtemp(prefix="shoal-cli-", dir="/tmp"))
    run_dir = base / "run"
    run_dir.mkdir()
    host = f"unix://{run_dir}/s.sock"
    log = base / "daemon.log"
    ui_addr = f"127.0.0.1:{free_port()}"
    with open(log, "wb") as logf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shoal.cli.main", "daemon", "--runtime", "process", "--data-root",
             str(base / "data"), "--exec-root", str(run_dir), "-H", host, "--hostname", HOSTNAME,
             "--ui-addr", ui_addr],
            stdout=logf, stderr=subprocess.STDOUT,
        )
    pids: list[int] = []
    try:
        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"daemon exited: {log.read_text()}")
            try:
                Client(host, timeout=2).request("GET", "/_ping")
            except DockerError:
                return False
            return True

        wait_for(up, timeout=20, what="the daemon's socket")
        yield Daemon(base, host, proc, log, CliRunner(), ui_addr)
        pids = task_pids(host)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pid in pids:  # task processes run in their own session; none may survive the daemon
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)


def test_cli_swarm_sequence(daemon: Daemon) -> None:
    d = daemon
    tar = make_image_tar(d.base / "rootfs", d.base / "img.tar")

    # -------- images
    iid = d.out("import", "-c", TICK_CMD, str(tar), "ticker:latest").strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", iid)
    piped = d.run("import", "-", "piped:1", input=tar.read_bytes()).stdout.strip()
    assert piped.startswith("sha256:")
    images = d.out("images")
    assert images.splitlines()[0] == "REPOSITORY   TAG       IMAGE ID       CREATED                  SIZE"
    ticker = next(r for r in rows(images) if r[0] == "ticker")
    assert ticker[1:3] == ["latest", iid.removeprefix("sha256:")[:12]]
    assert ticker[3].endswith(" ago") and re.fullmatch(r"[0-9.]+MB", ticker[4])
    assert d.out("tag", "ticker", "ticker:v2") == ""
    assert d.out("rmi", "ticker:v2") == "Untagged: ticker:v2\n"
    assert d.out("rmi", "piped:1").startswith(f"Untagged: piped:1\nDeleted: {piped}\n")

    # -------- not a manager yet: docker's error, exit 1
    r = d.run("service", "ls", ok=False)
    assert r.exit_code == 1
    assert r.output.startswith('Error response from daemon: This node is not a swarm manager. Use "docker swarm '
                               'init" or "docker swarm join"')

    # -------- swarm init
    out = d.out("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", f"127.0.0.1:{free_port()}")
    m = re.fullmatch(
        r"Swarm initialized: current node \((\w{25})\) is now a manager\.\n\n"
        r"To add a worker to this swarm, run the following command:\n\n"
        r"    docker swarm join --token (SWMTKN-1-\S+) 127\.0\.0\.1:\d+\n\n"
        r"To add a manager to this swarm, run 'docker swarm join-token manager' and follow the instructions\.\n",
        out)
    assert m, out
    node_id, token = m.group(1), m.group(2)
    assert d.out("swarm", "join-token", "-q", "worker").strip() == token
    assert "docker swarm join --token SWMTKN-1-" in d.out("swarm", "join-token", "manager")

    # -------- the web console's login token, accepted by the daemon's console door
    ui_token = d.out("ui-token").strip()
    assert ui_token.startswith("shoalui-1.")
    req = urllib.request.Request(f"http://{d.ui_addr}/api/session", headers={"Authorization": f"Bearer {ui_token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.loads(resp.read()) == {"LoggedIn": True, "LoginRequired": False}

    # -------- node ls
    nodes = d.out("node", "ls")
    assert nodes.splitlines()[0].split() == ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER", "STATUS",
                                             "ENGINE", "VERSION"]
    assert rows(nodes)[0] == [f"{node_id} *", HOSTNAME, "Ready", "Active", "Leader", rows(nodes)[0][5]]
    assert rows(nodes)[0][5]
    assert d.out("node", "ls", "-q") == node_id + "\n"

    # -------- service create (detached) and convergence
    r = d.run("service", "create", "-d", "--name", "web", "--replicas", "2", "ticker")
    service_id = r.stdout.strip()
    assert re.fullmatch(r"\w{25}", service_id)
    assert "could not be accessed on a registry to record" in r.stderr

    def replicas() -> str:
        ls = rows(d.out("service", "ls"))
        return next((row[3] for row in ls if row[1] == "web"), "")

    wait_for(lambda: replicas() == "2/2", what="web 2/2")
    ls = d.out("service", "ls")
    assert ls.splitlines()[0] == "ID             NAME      MODE         REPLICAS   IMAGE           PORTS"
    assert rows(ls)[0] == [service_id[:12], "web", "replicated", "2/2", "ticker:latest", ""]

    ps = rows(d.out("service", "ps", "web"))
    assert [p[1] for p in ps] == ["web.1", "web.2"]
    for p in ps:
        assert p[2:5] == ["ticker:latest", HOSTNAME, "Running"]
        assert re.fullmatch(r"Running (less than a second|\d+ seconds?) ago", p[5])

    # -------- scale, attached: waits for convergence
    out = d.out("service", "scale", "web=3")
    assert out.startswith("web scaled to 3\noverall progress: 0 out of 3 tasks\n")
    assert "overall progress: 3 out of 3 tasks\n" in out
    assert out.endswith("verify: Service web converged\n")
    assert replicas() == "3/3"
    assert len(d.out("service", "ps", "-q", "web").split()) == 3

    # -------- logs: name.slot.task@node    | message
    def logs() -> str:
        text: str = d.out("service", "logs", "web")
        return text if text.count("| tick") >= 3 else ""

    text = wait_for(logs, what="three ticks")
    ps = rows(d.out("service", "ps", "web"))
    assert f"web.1.{ps[0][0]}@{HOSTNAME}    | tick\n" in text
    tail = d.out("service", "logs", "-t", "--tail", "1", "--no-task-ids", "web")
    assert re.search(rf"^\d{{4}}-\d\d-\d\dT\S+Z web\.\d@{HOSTNAME}    \| tick$", tail, re.M)

    # -------- inspect
    pretty = d.out("service", "inspect", "--pretty", "web")
    assert f"\nID:\t\t{service_id}\nName:\t\tweb\nService Mode:\tReplicated\n Replicas:\t3\n" in pretty
    assert "ContainerSpec:\n Image:\t\tticker:latest\n" in pretty
    raw = d.out("service", "inspect", "web")
    assert raw.startswith('[\n    {\n        "ID": "' + service_id + '",\n')
    assert f'"ID": "{node_id}"' in d.out("node", "inspect", "self")
    assert f"Hostname:              \t{HOSTNAME}\n" in d.out("node", "inspect", "--pretty", "self")

    # -------- constraints: pending with the scheduler's explanation
    d.run("service", "create", "-d", "--name", "pend", "--constraint", "node.labels.pci==true", "ticker")
    err = "no suitable node (scheduling constraints not satisfied on 1 node)"
    wait_for(lambda: f'"{err}"' in d.out("service", "ps", "--no-trunc", "pend"), what="constraint error")
    short = rows(d.out("service", "ps", "pend"))[0]
    assert short[3:7] == ["", "Running", short[5], '"no suitable node (scheduling …"']
    assert short[5].startswith("Pending ")
    assert d.out("node", "update", "--label-add", "pci=true", node_id) == node_id + "\n"
    wait_for(lambda: rows(d.out("service", "ls"))[0][3] == "1/1", what="pend 1/1")

    # -------- drain: tasks leave the node
    assert d.out("node", "update", "--availability", "drain", node_id) == node_id + "\n"
    assert rows(d.out("node", "ls"))[0][3] == "Drain"
    wait_for(lambda: replicas() == "0/3", what="web drained")
    assert any(p[4] == "Shutdown" for p in rows(d.out("service", "ps", "web")))
    assert d.out("node", "update", "--availability", "active", node_id) == node_id + "\n"

    # -------- errors as docker prints them
    r = d.run("service", "ps", "nosuch", ok=False)
    assert (r.exit_code, r.output) == (1, "no such service: nosuch\n")
    r = d.run("service", "inspect", "nosuch", ok=False)
    assert (r.exit_code, r.stdout, r.stderr) == (1, "[]\n", "Error: no such service: nosuch\n")

    # -------- secrets and configs
    sid = d.run("secret", "create", "--label", "env=prod", "db_pass", "-", input=b"s3cret").stdout.strip()
    assert re.fullmatch(r"[0-9a-z]{25}", sid)
    listed = d.out("secret", "ls")
    assert listed.splitlines()[0].split() == ["ID", "NAME", "DRIVER", "CREATED", "UPDATED"]
    assert rows(listed)[0][:2] == [sid, "db_pass"] and rows(listed)[0][3].endswith(" ago")
    assert d.out("secret", "ls", "-q", "-f", "label=env=prod") == sid + "\n"
    pretty = d.out("secret", "inspect", "--pretty", sid[:6])
    assert pretty.startswith(f"ID:              {sid}\nName:              db_pass\nLabels:\n - env=prod\n")
    assert "Data" not in d.out("secret", "inspect", "db_pass")
    (tar.parent / "site.conf").write_text("listen 80\n")
    d.run("config", "create", "site", str(tar.parent / "site.conf"))
    assert d.out("config", "inspect", "--pretty", "site").endswith("Data:\nlisten 80\n\n")
    r = d.run("secret", "create", "db_pass", "-", input=b"x", ok=False)
    assert (r.exit_code, r.output) == (1, "Error response from daemon: rpc error: code = AlreadyExists desc = "
                                          "secret db_pass already exists\n")
    assert d.out("secret", "rm", "db_pass") == "db_pass\n"
    assert d.out("config", "rm", "site") == "site\n"
    r = d.run("secret", "rm", "db_pass", ok=False)
    assert (r.exit_code, r.output) == (1, "Error response from daemon: secret db_pass not found\n")

    # -------- rm, leave
    assert d.out("service", "rm", "web", "pend") == "web\npend\n"
    assert rows(d.out("service", "ls")) == []
    r = d.run("swarm", "leave", ok=False)
    assert r.exit_code == 1 and "Use `--force` to ignore this message." in r.output
    assert d.out("swarm", "leave", "--force") == "Node left the swarm.\n"
