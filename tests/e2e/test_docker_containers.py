"""The real docker CLI 28 against ``shoal daemon`` on runc: a node's own containers (``docker run``,
``ps`` with filters, ``logs -f``, ``exec -it`` through a pseudo-terminal, ``stop``, ``rm``, ``cp``,
``stats --no-stream``, ``top``, restart policies, the daemon's restart) and the swarm's task
containers (``docker exec`` into a running task's container, ``rm -f`` of one fails its task)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ShoalDaemon, leftover_mounts, rootfs_tar, start_daemon, stop_daemon
from tests.e2e.terminal import on_terminal
from tests.support import free_port, rows, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TICKER = 'CMD ["sh","-c","echo started; while true; do echo tick; sleep 1; done"]'


def cgroups_of(cid: str) -> list[Path]:
    base = Path("/sys/fs/cgroup")
    return [p for h in base.iterdir() for p in [h / "shoal" / f"{cid}.c"] if p.exists()]


@pytest.fixture(scope="module")
def shoal(e2e_base: Path) -> Iterator[ShoalDaemon]:
    if not shutil.which("runc"):
        pytest.skip("needs runc")
    d = start_daemon(e2e_base / "containers", "runc")
    made: list[str] = []
    try:
        tar = rootfs_tar(e2e_base)
        d.docker("import", "-", "busybox:latest", input=tar)
        d.docker("import", "-c", TICKER, "-", "ticker:latest", input=tar)
        yield d
    finally:
        ids = d.docker("ps", "-aq", "--no-trunc", check=False).stdout.split() if d.running() else []
        made += ids
        if ids:
            d.docker("rm", "-f", *ids, check=False)
        d.docker("swarm", "leave", "--force", check=False)
        stop_daemon(d)
        print(d.log.read_text()[-3000:])
    assert not leftover_mounts(e2e_base / "containers"), "mounts left behind"
    assert not any(cgroups_of(c) for c in made), "cgroups left behind"
    netns = e2e_base / "containers" / "run" / "netns"
    assert not netns.exists() or not any(netns.iterdir()), "network namespaces left behind"


def on_tty(d: ShoalDaemon, *args: str, stdin: bytes = b"", then: tuple[str, bytes] = ("", b"")) -> str:
    """The docker CLI on a terminal of its own (``-t`` needs one): what it printed there. ``stdin`` is
    typed at once; ``then``: once the text has been printed, those keys are typed."""
    return on_terminal(["docker", *args], d.env(), stdin, then)


def state(d: ShoalDaemon, ref: str) -> dict:
    return json.loads(d.docker("inspect", ref).stdout)[0]["State"]


def test_run_rm_attached_prints_and_is_removed(shoal: ShoalDaemon) -> None:
    r = shoal.docker("run", "--rm", "busybox", "echo", "hi")
    assert r.stdout == "hi\n"
    assert "Unable to find image" not in r.stderr  # the local image: no registry
    # Its stdin: what the client pipes in, then end of file.
    assert shoal.docker("run", "-i", "--rm", "busybox", "cat", input=b"piped in\n").stdout == "piped in\n"
    r = shoal.docker("run", "--rm", "busybox", "sh", "-c", "exit 3", check=False)
    assert r.returncode == 3
    assert shoal.docker("ps", "-aq").stdout.strip() == ""


def test_run_detached_ps_filters_inspect_logs(shoal: ShoalDaemon) -> None:
    cid = shoal.docker("run", "-d", "--name", "web", "--label", "tier=front", "ticker").stdout.strip()
    assert len(cid) == 64
    shoal.docker("run", "-d", "--name", "other", "--label", "tier=back", "busybox", "sleep", "300")
    names = lambda *f: sorted(r[-1] for r in rows(shoal.docker("ps", *f).stdout))  # noqa: E731
    assert names() == ["other", "web"]
    assert names("--filter", "name=web") == ["web"]
    assert names("--filter", "label=tier=back") == ["other"]
    assert names("--filter", "label=tier") == ["other", "web"]
    assert names("--filter", "status=running") == ["other", "web"]
    assert names("--filter", "status=exited") == []
    info = json.loads(shoal.docker("inspect", "web").stdout)[0]
    assert info["Id"] == cid and info["Name"] == "/web" and info["State"]["Status"] == "running"
    assert info["State"]["Pid"] > 0 and info["Config"]["Labels"]["tier"] == "front"
    assert info["NetworkSettings"]["IPAddress"].startswith("10.213.240.")
    wait_for(lambda: "tick" in shoal.docker("logs", "web").stdout, what="the container's output")
    assert shoal.docker("logs", "web").stdout.startswith("started\ntick\n")
    r = shoal.docker("run", "--name", "web", "busybox", "true", check=False)
    assert r.returncode != 0
    assert f'The container name "/web" is already in use by container "{cid}"' in r.stderr
    shoal.docker("rm", "-f", "other", "web")


def test_logs_follow_until_exit(shoal: ShoalDaemon) -> None:
    shoal.docker("run", "-d", "--name", "counter", "busybox", "sh", "-c",
                 "for i in 1 2 3; do echo line$i; sleep 0.3; done")
    out = shoal.docker("logs", "-f", "counter", timeout=30).stdout
    assert out == "line1\nline2\nline3\n"
    assert state(shoal, "counter")["Status"] == "exited"
    assert shoal.docker("logs", "--tail", "1", "counter").stdout == "line3\n"
    shoal.docker("rm", "counter")


def test_exec_it_through_a_pty_and_exit_codes(shoal: ShoalDaemon) -> None:
    shoal.docker("run", "-d", "--name", "box", "busybox", "sleep", "300")
    out = on_tty(shoal, "exec", "-it", "box", "sh", "-c", "tty; echo tty-ok")
    assert "/dev/pts/" in out and "tty-ok" in out, out
    out = on_tty(shoal, "exec", "-it", "box", "sh", stdin=b"echo in-$((40+2))\nexit\n")
    assert "in-42" in out, out
    assert shoal.docker("exec", "-i", "box", "cat", input=b"through stdin\n").stdout == "through stdin\n"
    assert shoal.docker("exec", "box", "sh", "-c", "exit 3", check=False).returncode == 3
    assert shoal.docker("exec", "-e", "X=1", "-w", "/www", "box", "sh", "-c", "echo $X $(pwd)").stdout == "1 /www\n"
    assert shoal.docker("exec", "-u", "root", "box", "id", "-u").stdout == "0\n"
    assert shoal.docker("exec", "-u", "1000:1000", "box", "id", "-u").stdout == "1000\n"


def test_run_it_and_attach_with_detach_keys(shoal: ShoalDaemon) -> None:
    out = on_tty(shoal, "run", "-it", "--rm", "busybox", "sh", stdin=b"echo in-$((40+2)); tty\nexit 0\n")
    assert "in-42" in out and "/dev/pts/" in out, out
    shoal.docker("run", "-dit", "--name", "term", "busybox", "sh")
    # The detach keys (ctrl-p ctrl-q) typed once the CLI holds the terminal raw (cooked, ctrl-q is XON).
    out = on_tty(shoal, "attach", "term", stdin=b"echo attached-$((1+1))\n", then=("attached-2\r\n", b"\x10\x11"))
    assert "attached-2" in out and "read escape sequence" in out, out
    assert state(shoal, "term")["Running"] is True  # detached, not stopped
    shoal.docker("rm", "-f", "term")


def test_top_stats_pause(shoal: ShoalDaemon) -> None:
    top = shoal.docker("top", "box").stdout
    assert "sleep 300" in top
    out = shoal.docker("stats", "--no-stream", "box").stdout
    row = rows(out)[0]
    assert row[1] == "box"
    assert row[3].split(" / ")[0] not in ("0B", "--"), out  # MEM USAGE
    assert int(row[-1]) >= 1  # PIDS
    shoal.docker("pause", "box")
    assert state(shoal, "box")["Paused"] is True
    assert "(Paused)" in shoal.docker("ps", "--filter", "name=box").stdout
    shoal.docker("unpause", "box")
    assert state(shoal, "box")["Status"] == "running"


def test_healthcheck(shoal: ShoalDaemon) -> None:
    shoal.docker("run", "-d", "--name", "hc", "--health-cmd", "test ! -e /www/sick", "--health-interval", "1s",
                 "busybox", "sleep", "300")
    wait_for(lambda: (state(shoal, "hc").get("Health") or {}).get("Status") == "healthy", timeout=20,
             what="healthy")
    assert "(healthy)" in shoal.docker("ps", "--filter", "health=healthy").stdout
    shoal.docker("exec", "hc", "sh", "-c", "echo > /www/sick")
    wait_for(lambda: state(shoal, "hc")["Health"]["Status"] == "unhealthy", timeout=20, what="unhealthy")
    assert state(shoal, "hc")["Running"] is True  # Docker runs an unhealthy container on
    shoal.docker("rm", "-f", "hc")


def test_cp_in_and_out(shoal: ShoalDaemon, tmp_path: Path) -> None:
    src = tmp_path / "note.txt"
    src.write_text("copied in\n")
    shoal.docker("cp", str(src), "box:/www/")
    assert shoal.docker("exec", "box", "cat", "/www/note.txt").stdout == "copied in\n"
    shoal.docker("cp", "box:/www/index.html", str(tmp_path / "out.html"))
    assert (tmp_path / "out.html").read_text() == "hello from shoal\n"


def test_stop_start_rename_rm(shoal: ShoalDaemon, tmp_path: Path) -> None:
    shoal.docker("stop", "-t", "1", "box")
    st = state(shoal, "box")
    assert st["Status"] == "exited" and st["Running"] is False
    shoal.docker("cp", "box:/www/note.txt", str(tmp_path / "kept.txt"))  # a stopped container's writable layer
    assert (tmp_path / "kept.txt").read_text() == "copied in\n"
    assert shoal.docker("ps", "-q", "--filter", "name=box").stdout == ""
    assert len(rows(shoal.docker("ps", "-a", "--filter", "status=exited", "--filter", "name=box").stdout)) == 1
    shoal.docker("start", "box")
    assert state(shoal, "box")["Running"] is True
    shoal.docker("rename", "box", "box2")
    r = shoal.docker("rm", "box2", check=False)
    assert r.returncode != 0 and "You cannot remove a running container" in r.stderr
    shoal.docker("rm", "-f", "box2")
    assert shoal.docker("ps", "-aq", "--filter", "name=box2").stdout == ""


def test_restart_policy_on_failure(shoal: ShoalDaemon) -> None:
    shoal.docker("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 1")

    def done() -> bool:
        info = json.loads(shoal.docker("inspect", "flaky").stdout)[0]
        return info["RestartCount"] == 2 and info["State"]["Status"] == "exited"

    wait_for(done, timeout=30, what="two restarts, then exited")
    shoal.docker("rm", "flaky")


def test_always_restarts_with_the_daemon(shoal: ShoalDaemon) -> None:
    shoal.docker("run", "-d", "--name", "keeper", "--restart", "always", "ticker")
    shoal.docker("run", "-d", "--name", "once", "busybox", "sleep", "300")
    before = state(shoal, "keeper")["Pid"]
    stop_daemon(shoal)
    shoal.start()
    st = state(shoal, "keeper")
    assert st["Running"] is True and st["Pid"] != before
    once = state(shoal, "once")
    assert once["Status"] == "exited" and once["ExitCode"] == 137, once  # sleep as PID 1 ignores SIGTERM
    shoal.docker("rm", "-f", "keeper", "once")


def test_a_killed_daemon_leaves_nothing_behind(shoal: ShoalDaemon) -> None:
    cid = shoal.docker("run", "-d", "--name", "orphan", "busybox", "sleep", "300").stdout.strip()
    assert cgroups_of(cid)
    shoal.kill()  # no stop: the container, its mounts and namespace are left
    shoal.start()
    st = state(shoal, "orphan")
    assert st["Status"] == "exited" and st["ExitCode"] == 255
    assert not cgroups_of(cid)
    assert not [m for m in leftover_mounts(shoal.base) if cid in m]
    assert not (shoal.exec_root / "netns" / cid).exists()
    shoal.docker("start", "orphan")  # and it runs again, on a fresh filesystem
    assert state(shoal, "orphan")["Running"] is True
    shoal.docker("rm", "-f", "orphan")


def test_task_containers_exec_logs_and_rm(shoal: ShoalDaemon) -> None:
    shoal.docker("run", "-d", "--name", "local", "busybox", "sleep", "300")
    shoal.docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", f"127.0.0.1:{free_port()}")
    shoal.docker("service", "create", "-d", "--name", "svc", "--container-label", "role=worker", "ticker")

    def task_row() -> list[str] | None:
        found = rows(shoal.docker("ps", "--filter", "name=svc.1.").stdout)
        return found[0] if found else None

    row = wait_for(task_row, timeout=60, what="the task's container")
    name = row[-1]
    info = json.loads(shoal.docker("inspect", name).stdout)[0]
    labels = info["Config"]["Labels"]
    assert labels["com.docker.swarm.service.name"] == "svc" and labels["role"] == "worker"
    assert name == f"svc.1.{labels['com.docker.swarm.task.id']}"
    assert shoal.docker("exec", name, "echo", "inside").stdout == "inside\n"
    wait_for(lambda: "started" in shoal.docker("logs", name).stdout, what="the task's log")
    assert "sh -c" in shoal.docker("top", name).stdout
    assert len(rows(shoal.docker("ps", "--filter", "is-task=true").stdout)) == 1
    # Removed from under the swarm: the task fails and its service replaces it.
    shoal.docker("rm", "-f", name)
    wait_for(lambda: (r := task_row()) is not None and r[-1] != name, timeout=60, what="a new task")
    shoal.docker("service", "rm", "svc")
    shoal.docker("swarm", "leave", "--force")
    # The node's own container is not the swarm's: it runs on.
    assert state(shoal, "local")["Running"] is True
    shoal.docker("rm", "-f", "local")


def test_prune_and_info_counters(shoal: ShoalDaemon) -> None:
    shoal.docker("run", "--name", "gone", "busybox", "true")
    shoal.docker("run", "-d", "--name", "stays", "busybox", "sleep", "300")
    out = shoal.docker("info", "--format", "{{.ContainersRunning}} {{.ContainersStopped}}").stdout.split()
    assert out == ["1", "1"], shoal.docker("ps", "-a").stdout
    shoal.docker("container", "prune", "-f")
    names = sorted(r[-1] for r in rows(shoal.docker("ps", "-a").stdout))
    assert names == ["stays"]
    shoal.docker("rm", "-f", "stays")
