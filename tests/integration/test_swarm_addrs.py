"""``swarm init`` of an in-process daemon whose host interfaces are a fake: an interface name becomes
its address (with the listen port, or its own), the system's one address is taken when none is
given, other names are refused in Docker's words and leave the node outside a swarm."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.support import free_port

from shoal.api.errors import InvalidArgument
from shoal.daemon import Daemon, DaemonConfig
from shoal.network.hostaddrs import ERR_BAD_ADVERTISE, Interface

HOST = [Interface("lo", ("127.0.0.1", "::1"), loopback=True), Interface("eth0", ("10.213.9.9", "fe80::9"))]


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    d = Daemon(DaemonConfig(data_root=tmp_path / "data", exec_root=tmp_path / "run", runtime="process",
                            hostname="node-1"))
    d.interfaces = lambda: HOST
    await d.start()
    yield d
    await d.stop()


async def test_an_interface_name_is_its_address(daemon: Daemon) -> None:
    port = free_port()
    for bad in ("node01", "node01:2377", "0.0.0.0"):
        with pytest.raises(InvalidArgument) as e:
            await daemon.swarm_init(bad, f"127.0.0.1:{port}")
        assert str(e.value) == ERR_BAD_ADVERTISE
        assert daemon.local_node_state() == "inactive"
    await daemon.swarm_init("eth0", f"127.0.0.1:{port}", data_path_addr="eth0")
    assert (daemon.addr, daemon.listen_addr, daemon.data_path_addr) == (f"10.213.9.9:{port}", f"127.0.0.1:{port}",
                                                                        "10.213.9.9")
    assert daemon.summary().Swarm.NodeAddr == "10.213.9.9"
    m = daemon.manager
    assert m is not None
    assert [r.Addr for r in m.control.members().Managers] == [f"10.213.9.9:{port}"]
    await daemon.swarm_leave(force=True)
    await daemon.swarm_init("eth0:2400", f"127.0.0.1:{free_port()}")
    assert daemon.addr == "10.213.9.9:2400"
    await daemon.swarm_leave(force=True)
    port = free_port()
    await daemon.swarm_init("", f"127.0.0.1:{port}")  # none given: the system's one address
    assert daemon.addr == f"10.213.9.9:{port}"
    await daemon.swarm_leave(force=True)
