"""Local networks through the real docker CLI: ``docker network create/ls/inspect/rm/prune`` on a node
in no swarm and on a manager (the swarm's overlay networks beside them, names unique across both)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ShoalDaemon, start_daemon, stop_daemon
from tests.support import free_port

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def shoal(e2e_base: Path) -> Iterator[ShoalDaemon]:
    if not shutil.which("runc"):
        pytest.skip("local networks are wired by the runc runtime's node network")
    d = start_daemon(e2e_base / "localnets", "runc")
    try:
        yield d
    finally:
        stop_daemon(d)


def _fails(d: ShoalDaemon, *args: str) -> str:
    """The error's line (``network rm`` adds the CLI's own ``exit status 1`` below it)."""
    r = d.docker(*args, check=False)
    assert r.returncode != 0, r.stdout
    return r.stderr.strip().splitlines()[0]


def _ids(d: ShoalDaemon) -> dict[str, str]:
    out = d.docker("network", "ls", "--no-trunc", "--format", "{{.Name}} {{.ID}}").stdout
    return dict(line.split() for line in out.splitlines())


def _links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


def test_predefined_networks_print_as_dockers(shoal: ShoalDaemon) -> None:
    ids = _ids(shoal)
    assert sorted(ids) == ["bridge", "host", "none"]
    assert all(len(i) == 64 for i in ids.values())
    out = shoal.docker("network", "ls").stdout
    assert out == ("NETWORK ID     NAME      DRIVER    SCOPE\n"
                   f"{ids['bridge'][:12]}   bridge    bridge    local\n"
                   f"{ids['host'][:12]}   host      host      local\n"
                   f"{ids['none'][:12]}   none      null      local\n")
    [bridge] = json.loads(shoal.docker("network", "inspect", "bridge").stdout)
    assert bridge["Scope"] == "local" and bridge["Driver"] == "bridge" and bridge["Containers"] == {}
    assert bridge["Options"]["com.docker.network.bridge.default_bridge"] == "true"
    assert _fails(shoal, "network", "rm", "bridge") == \
        "Error response from daemon: bridge is a pre-defined network and cannot be removed"
    assert _fails(shoal, "network", "create", "host") == \
        "Error response from daemon: operation is not permitted on predefined host network"


def test_create_ls_inspect_rm_prune_in_no_swarm(shoal: ShoalDaemon) -> None:
    d = shoal
    fid = d.docker("network", "create", "--subnet", "10.213.60.0/24", "--gateway", "10.213.60.254",
                   "--ip-range", "10.213.60.64/26", "--label", "tier=web", "--opt", "x=y", "--internal",
                   "front").stdout.strip()
    assert len(fid) == 64
    d.docker("network", "create", "-d", "bridge", "--subnet", "10.213.61.0/24", "back")
    [net] = json.loads(d.docker("network", "inspect", "front").stdout)
    assert (net["Id"], net["Name"], net["Scope"], net["Driver"], net["Internal"]) == (fid, "front", "local",
                                                                                      "bridge", True)
    assert net["IPAM"]["Config"] == [{"Subnet": "10.213.60.0/24", "Gateway": "10.213.60.254",
                                      "IPRange": "10.213.60.64/26"}]
    assert (net["Labels"], net["Options"]) == ({"tier": "web"}, {"x": "y"})
    assert _fails(d, "network", "create", "--subnet", "10.213.62.0/24", "front") == \
        "Error response from daemon: network with name front already exists"
    assert _fails(d, "network", "create", "--subnet", "10.213.60.128/25", "clash") == \
        "Error response from daemon: Pool overlaps with other one on this address space"
    ls = d.docker("network", "ls", "--filter", "type=custom", "--format", "{{.Name}} {{.Driver}} {{.Scope}}").stdout
    assert ls == "back bridge local\nfront bridge local\n"
    assert d.docker("network", "ls", "-q", "--filter", "label=tier=web").stdout.strip() == fid[:12]
    assert d.docker("network", "ls", "--filter", "name=ron", "--format", "{{.Name}}").stdout == "front\n"
    assert d.docker("network", "rm", "back").stdout.strip() == "back"
    assert "Deleted Networks:\nfront\n" in d.docker("network", "prune", "-f").stdout
    assert sorted(_ids(d)) == ["bridge", "host", "none"]
    assert f"br-{fid[:12]}" not in _links()


def test_on_a_manager_local_and_swarm_networks(e2e_base: Path) -> None:
    if not shutil.which("runc"):
        pytest.skip("needs runc")
    d = start_daemon(e2e_base / "localnets-mgr", "runc")
    try:
        d.docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", f"127.0.0.1:{free_port()}")
        d.docker("network", "create", "--subnet", "10.213.63.0/24", "local1")
        d.docker("network", "create", "-d", "overlay", "--subnet", "10.213.64.0/24", "over1")
        rows = d.docker("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}").stdout.splitlines()
        assert {"bridge bridge local", "host host local", "none null local", "local1 bridge local",
                "over1 overlay swarm", "ingress overlay swarm"} <= set(rows)
        assert _fails(d, "network", "create", "-d", "overlay", "local1") == \
            "Error response from daemon: network with name local1 already exists"
        assert _fails(d, "network", "create", "over1") == \
            "Error response from daemon: network with name over1 already exists"
        [over] = json.loads(d.docker("network", "inspect", "over1").stdout)
        assert over["Scope"] == "swarm"
        d.docker("network", "rm", "local1", "over1")
        assert {r.split()[0] for r in d.docker("network", "ls", "--format", "{{.Name}}").stdout.split()} == \
            {"bridge", "host", "none", "ingress"}
    finally:
        d.docker("swarm", "leave", "--force", check=False)
        stop_daemon(d)
