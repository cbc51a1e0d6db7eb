"""The console's listener (``shoal daemon --ui-addr``). Stand-in on main until the door lands."""

from __future__ import annotations

from shoal.nodeapi import NodeAPI


class UIServer:
    """Serves the console and ``/metrics`` on ``addr`` (host:port) for the life of the daemon."""

    def __init__(self, node: NodeAPI, addr: str) -> None:
        self.node, self.addr = node, addr

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
