"""A node's local networks as the core shows them: Docker's ``bridge``, ``host`` and ``none``, and the
user-defined networks of the ``bridge`` driver (``docker network create foo``), with the containers
connected to them here.

The store that keeps them is the node's (``network/local.py``); a front door reaches it through
``nodeapi.LocalNetworks`` and gets these types back. ``LocalEndpoint`` is one container's place on a
network (its address with the prefix, its MAC address, its aliases).
"""

from __future__ import annotations

import msgspec

BRIDGE = "bridge"  # the predefined networks' names (and drivers: bridge, host, null)
HOST = "host"
NONE = "none"
PREDEFINED = (BRIDGE, HOST, NONE)


class LocalIPAMConfig(msgspec.Struct, kw_only=True):
    Subnet: str
    Gateway: str = ""
    IPRange: str = ""


class LocalEndpoint(msgspec.Struct, kw_only=True):
    """A container on a local network."""

    ContainerID: str
    Name: str  # the container's name, without Docker's leading '/'
    EndpointID: str
    MacAddress: str = ""
    IPv4Address: str = ""  # with the prefix, "172.18.0.2/16"; "" on host and none
    Aliases: list[str] = msgspec.field(default_factory=list)


class LocalNetwork(msgspec.Struct, kw_only=True):
    ID: str  # 64 hexadecimal digits, as Docker's
    Name: str
    Driver: str  # bridge | host | null
    Created: str  # RFC 3339 with nanoseconds
    Internal: bool = False
    Attachable: bool = False
    EnableIPv6: bool = False
    IPAMDriver: str = "default"
    IPAMOptions: dict[str, str] = msgspec.field(default_factory=dict)
    IPAM: list[LocalIPAMConfig] = msgspec.field(default_factory=list)
    Options: dict[str, str] = msgspec.field(default_factory=dict)
    Labels: dict[str, str] = msgspec.field(default_factory=dict)
    Predefined: bool = False  # bridge, host, none: never removed
    Containers: dict[str, LocalEndpoint] = msgspec.field(default_factory=dict)  # container ID → endpoint

    @property
    def subnet(self) -> str:
        return self.IPAM[0].Subnet if self.IPAM else ""

    @property
    def gateway(self) -> str:
        return self.IPAM[0].Gateway if self.IPAM else ""
