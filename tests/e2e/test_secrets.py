"""Swarm secrets and configs end to end: the real docker CLI 28 against ``shoal daemon`` on runc.

Secrets and configs are created, listed, inspected and removed with Swarm's words; a service gets
them as files (``/run/secrets/<target>`` on a tmpfs, a config at its target) with their owner and
mode, read from the container's own root; the secret's bytes are never found on the node's disk;
removing a secret in use is refused; and nothing stays mounted once the service is gone.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ShoalDaemon, leftover_mounts, make_rootfs, start_daemon, stop_daemon
from tests.support import free_port, rows, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed"),
]

PLAINTEXT = b"s3cret-4f9c1e7a"  # unique enough to be looked for on the disk
CONFIG = "listen 8080\nserver_name site.example\n"


@pytest.fixture(scope="module")
def shoal(e2e_base: Path) -> Iterator[ShoalDaemon]:
    d = start_daemon(e2e_base, "runc")
    try:
        rootfs = make_rootfs(e2e_base / "rootfs")
        tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True).stdout
        d.docker("import", "-", "busy:latest", input=tar)
        d.docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", f"127.0.0.1:{free_port()}")
        yield d
    finally:
        d.docker("service", "rm", "app", check=False)
        d.docker("swarm", "leave", "--force", check=False)
        stop_daemon(d)
        print(d.log.read_text()[-3000:])
    assert not leftover_mounts(e2e_base), "mounts left behind"


def files_mounts(d: ShoalDaemon) -> list[str]:
    return leftover_mounts(d.exec_root / "files")


def test_secret_create_ls_inspect(shoal: ShoalDaemon, e2e_base: Path) -> None:
    sid = shoal.docker("secret", "create", "--label", "env=prod", "db_pass", "-", input=PLAINTEXT).stdout.strip()
    assert len(sid) == 25
    shoal.docker("secret", "create", "other", "-", input=b"x")
    r = shoal.docker("secret", "create", "db_pass", "-", input=b"again", check=False)
    assert r.returncode != 0
    assert "rpc error: code = AlreadyExists desc = secret db_pass already exists" in r.stderr
    r = shoal.docker("secret", "create", "bad!", "-", input=b"x", check=False)
    assert "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed" in r.stderr
    big = e2e_base / "big"
    big.write_bytes(b"x" * 500 * 1024)
    r = shoal.docker("secret", "create", "big", str(big), check=False)
    assert "secret data must be larger than 0 and less than 512000 bytes" in r.stderr

    table = rows(shoal.docker("secret", "ls").stdout)
    assert [r[1] for r in table] == ["db_pass", "other"]
    assert [r[1] for r in rows(shoal.docker("secret", "ls", "--filter", "label=env=prod").stdout)] == ["db_pass"]
    assert [r[1] for r in rows(shoal.docker("secret", "ls", "--filter", "name=oth").stdout)] == ["other"]
    assert shoal.docker("secret", "ls", "-q", "--filter", f"id={sid[:6]}").stdout.split() == [sid]

    (got,) = json.loads(shoal.docker("secret", "inspect", sid[:8]).stdout)
    assert got["ID"] == sid and got["Spec"]["Name"] == "db_pass" and got["Spec"]["Labels"] == {"env": "prod"}
    assert "Data" not in got["Spec"]  # a secret's bytes never come back through the API
    pretty = shoal.docker("secret", "inspect", "--pretty", "db_pass").stdout
    assert "Name:              db_pass" in pretty and "env=prod" in pretty
    r = shoal.docker("secret", "inspect", "nosuch", check=False)
    assert "secret nosuch not found" in r.stderr


def test_config_create_and_inspect_shows_data(shoal: ShoalDaemon, e2e_base: Path) -> None:
    conf = e2e_base / "site.conf"
    conf.write_text(CONFIG)
    shoal.docker("config", "create", "site_conf", str(conf))
    (got,) = json.loads(shoal.docker("config", "inspect", "site_conf").stdout)
    assert base64.b64decode(got["Spec"]["Data"]).decode() == CONFIG
    assert [r[1] for r in rows(shoal.docker("config", "ls").stdout)] == ["site_conf"]
    assert "server_name site.example" in shoal.docker("config", "inspect", "--pretty", "site_conf").stdout


def test_service_with_a_missing_secret_is_refused(shoal: ShoalDaemon) -> None:
    r = shoal.docker("service", "create", "--name", "bad", "--secret", "nosuch", "busy", "true", check=False)
    assert r.returncode != 0 and "secret not found: nosuch" in r.stderr  # the CLI resolves names itself
    body = json.dumps({"Name": "bad", "TaskTemplate": {"ContainerSpec": {
        "Image": "busy", "Secrets": [{"SecretID": "0123456789abcdefghijklmno", "SecretName": "nosuch",
                                      "File": {"Name": "x", "UID": "0", "GID": "0", "Mode": 292}}]}}})
    out = subprocess.run(["curl", "-s", "--unix-socket", shoal.sock, "-H", "Content-Type: application/json",
                          "-d", body, "http://x/v1.47/services/create"], capture_output=True, text=True).stdout
    assert json.loads(out)["message"] == "rpc error: code = InvalidArgument desc = secret not found: nosuch"


def _task(d: ShoalDaemon, service: str) -> dict:
    def running() -> dict | None:
        for tid in d.docker("service", "ps", "-q", "--no-trunc", "-f", "desired-state=running", service).stdout.split():
            t = json.loads(d.docker("inspect", "--type", "task", tid).stdout)[0]
            if t["Status"]["State"] == "running":
                return t
        return None

    return wait_for(running, timeout=40, what=f"a running task of {service}")


def test_service_gets_its_secrets_and_config(shoal: ShoalDaemon) -> None:
    shoal.docker(
        "service", "create", "-d", "--name", "app", "--secret", "db_pass",
        "--secret", "source=db_pass,target=pw,uid=1000,gid=1000,mode=0400",
        "--config", "source=site_conf,target=/etc/site.conf,mode=0440", "busy",
        "sh", "-c", 'test -s /run/secrets/pw && test "$(cat /run/secrets/pw)" = "$(cat /run/secrets/db_pass)" '
                    "&& echo secret-ok; cat /etc/site.conf; sleep 1000")  # (never the plaintext in the spec)
    task = _task(shoal, "app")
    root = Path(f"/proc/{task['Status']['ContainerStatus']['PID']}/root")
    assert (root / "run/secrets/db_pass").read_bytes() == PLAINTEXT
    st = os.stat(root / "run/secrets/db_pass")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o444, 0, 0)
    st = os.stat(root / "run/secrets/pw")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o400, 1000, 1000)
    assert (root / "etc/site.conf").read_text() == CONFIG
    assert stat.S_IMODE(os.stat(root / "etc/site.conf").st_mode) == 0o440
    logs = wait_for(lambda: "server_name" in (o := shoal.docker("service", "logs", "app").stdout) and o,
                    what="the task's output")
    assert "secret-ok" in logs
    assert len(files_mounts(shoal)) == 1  # the task's tmpfs, on the host

    # The secret's bytes are in memory only: no file of the node's data or exec root holds them.
    for top in (shoal.data_root, shoal.exec_root):
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [n for n in dirnames if not os.path.ismount(os.path.join(dirpath, n))]
            for name in filenames:
                p = os.path.join(dirpath, name)
                if os.path.isfile(p) and not os.path.islink(p) and not os.path.ismount(p):  # (netns files)
                    with open(p, "rb") as f:
                        assert PLAINTEXT not in f.read(), f"the secret in plaintext in {p}"


def test_secret_in_use_cannot_be_removed(shoal: ShoalDaemon) -> None:
    r = shoal.docker("secret", "rm", "db_pass", check=False)
    assert r.returncode != 0
    assert "rpc error: code = InvalidArgument desc = secret 'db_pass' is in use by the following service: app" \
        in r.stderr
    r = shoal.docker("config", "rm", "site_conf", check=False)
    assert "config 'site_conf' is in use by the following service: app" in r.stderr


def test_service_update_secret_and_config_add_rm(shoal: ShoalDaemon) -> None:
    before = _task(shoal, "app")["ID"]
    shoal.docker("service", "update", "-d", "--secret-rm", "db_pass", "--secret-add", "source=other,target=o",
                 "--config-rm", "site_conf", "app")
    task = wait_for(lambda: (t := _task(shoal, "app"))["ID"] != before and t, timeout=40, what="the updated task")
    root = Path(f"/proc/{task['Status']['ContainerStatus']['PID']}/root")
    assert sorted(os.listdir(root / "run/secrets")) == ["o"]
    assert not (root / "etc/site.conf").exists() or (root / "etc/site.conf").read_text() != CONFIG
    shoal.docker("config", "rm", "site_conf")  # no longer in use
    wait_for(lambda: len(files_mounts(shoal)) == 1, what="the old task's tmpfs gone")


def test_removed_once_the_service_is_gone(shoal: ShoalDaemon) -> None:
    shoal.docker("secret", "rm", "db_pass")  # the service no longer refers to it
    shoal.docker("service", "rm", "app")
    wait_for(lambda: not files_mounts(shoal), what="no task tmpfs left")
    wait_for(lambda: not any((shoal.exec_root / "files").iterdir()), what="no task files left")
    assert shoal.docker("secret", "rm", "other").stdout.strip() == "other"
    assert rows(shoal.docker("secret", "ls").stdout) == []
