"""The real docker CLI: a node's own containers on its local networks (``agent/containernets.py``):
``docker run --network <user network> --network-alias``, two containers reaching each other by name
and alias, ``-p 127.0.0.1:PORT:80``, ``docker network connect`` of a running container, and nothing
left after ``rm -f`` and ``network rm``."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import WEB_CMD, ShoalDaemon, leftover_mounts, rootfs_tar, start_daemon, stop_daemon
from tests.support import free_port, wait_for

pytestmark = [pytest.mark.e2e]

GET = r'printf "GET / HTTP/1.0\r\n\r\n" | nc -w 5 {host} 80'


@pytest.fixture(scope="module")
def shoal(e2e_base: Path) -> Iterator[ShoalDaemon]:
    if not shutil.which("runc"):
        pytest.skip("needs runc")
    d = start_daemon(e2e_base / "cnets", "runc")
    try:
        d.docker("import", "-c", WEB_CMD, "-", "web:latest", input=rootfs_tar(e2e_base))
        yield d
    finally:
        if d.running():
            ids = d.docker("ps", "-aq", "--no-trunc", check=False).stdout.split()
            if ids:
                d.docker("rm", "-f", *ids, check=False)
            for net in ("cn-front", "cn-back"):
                d.docker("network", "rm", net, check=False)
        stop_daemon(d)
    assert not leftover_mounts(e2e_base / "cnets"), "mounts left behind"


def test_containers_on_user_networks_by_name_alias_and_published_port(shoal: ShoalDaemon) -> None:
    d = shoal
    front = d.docker("network", "create", "--subnet", "10.213.236.0/24", "cn-front").stdout.strip()
    back = d.docker("network", "create", "--subnet", "10.213.237.0/24", "cn-back").stdout.strip()
    port = free_port()
    d.docker("run", "-d", "--name", "srv", "--network", "cn-front", "--network-alias", "www",
             "-p", f"127.0.0.1:{port}:80", "web:latest")
    d.docker("run", "-d", "--name", "cli", "--network", "cn-front", "web:latest")
    for host in ("srv", "www"):
        out = d.docker("exec", "cli", "sh", "-c", GET.format(host=host)).stdout
        assert "hello from shoal" in out, out
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
        assert "hello from shoal" in r.read().decode()

    [srv] = json.loads(d.docker("inspect", "srv").stdout)
    nets = srv["NetworkSettings"]["Networks"]
    assert list(nets) == ["cn-front"] and nets["cn-front"]["NetworkID"] == front
    assert "www" in nets["cn-front"]["Aliases"] and nets["cn-front"]["IPAddress"].startswith("10.213.236.")
    assert srv["NetworkSettings"]["Ports"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert srv["HostConfig"]["NetworkMode"] == "cn-front"

    # a running container connected to one more network: reachable there by name at once
    d.docker("run", "-d", "--name", "other", "--network", "cn-back", "web:latest")
    r = d.docker("exec", "other", "sh", "-c", GET.format(host="srv"), check=False)
    assert "hello from shoal" not in r.stdout
    d.docker("network", "connect", "cn-back", "srv")
    wait_for(lambda: "hello from shoal" in d.docker("exec", "other", "sh", "-c", GET.format(host="srv"),
                                                     check=False).stdout, timeout=20, what="srv on cn-back")
    [srv] = json.loads(d.docker("inspect", "srv").stdout)
    assert sorted(srv["NetworkSettings"]["Networks"]) == ["cn-back", "cn-front"]

    d.docker("rm", "-f", "srv", "cli", "other")
    d.docker("network", "rm", "cn-front", "cn-back")
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"br-{front[:12]}" not in links and f"br-{back[:12]}" not in links
    netns = d.exec_root / "netns"
    assert not netns.exists() or not any(netns.iterdir())
