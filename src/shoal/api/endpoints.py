"""The services' endpoints on a network, as the managers keep them and send them to a node.

``{network ID → NetworkEndpoints(Name, Services={service ID → Endpoint})}``: a service's name, its
endpoint mode, its virtual IP on that network (``vip`` mode; "" in ``dnsrr``), its running tasks'
addresses there (the backends) and its aliases on the network. Kept by ``manager/netview.py``, sent
in ``protocol.Assignments``, read by the node's network (``network/endpoints.py``).
"""

from __future__ import annotations

import msgspec


class Endpoint(msgspec.Struct, frozen=True):
    Name: str
    Mode: str = "vip"  # "vip" | "dnsrr"
    VIP: str = ""  # its virtual IP on the network (vip mode), without the prefix
    Backends: tuple[str, ...] = ()  # its running tasks' addresses on the network, sorted
    Aliases: tuple[str, ...] = ()


class NetworkEndpoints(msgspec.Struct, frozen=True):
    Name: str  # the network's name: every name also answers as ``<name>.<network>``
    Services: dict[str, Endpoint] = {}


View = dict[str, NetworkEndpoints]  # network ID → its endpoints
