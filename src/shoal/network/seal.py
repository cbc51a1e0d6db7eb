"""Encrypted overlays without kernel IPsec: a userspace AES-GCM tunnel between nodes, over a TUN device.

An overlay created with ``--opt encrypted`` must never put its tasks' traffic on the wire in clear.
Swarm does this with IPsec ESP in the kernel; this machine's kernel has xfrm but no ESP (nor
WireGuard or MACsec), so shoal seals the overlay's VXLAN packets itself:

- Each node has a TUN device ``shs0`` with an IPv6 address that is a function of the node's own
  (IPv4) address: ``fd5e:a1ed::<a.b.c.d>`` (``inner_address``), and a route to ``fd5e:a1ed::/96``
  through it. An encrypted network's VXLAN port (``bridge.ensure_vxlan``) uses that inner address as
  its source and the peers' inner addresses as its destinations, so its packets (IPv6, UDP 4789) go
  into the TUN device instead of onto the wire.
- The tunnel process (``python -m shoal.network.seal``, one per node, started by the runtime and
  dying with the daemon) reads each packet from the TUN device, seals it with AES-GCM under the
  current key and sends it over UDP port 4790 to the node whose address the destination embeds; the
  receiving node's process opens it (any of its current keys), checks that it is VXLAN for this node
  and hands it to the kernel through its own TUN device. It carries nothing but VXLAN between nodes.
- On the wire: ``version (1) | 3 zero bytes | key ID (4) | nonce (12) | ciphertext | tag (16)``; the
  first 20 bytes are authenticated too. A nonce is a random per-process salt and a counter, so no
  (key, nonce) pair repeats; a receiver drops replays and packets older than its window (2,048 per
  sender and key), as ESP does.
- The process counts the packets it sealed, opened and refused (replays, bad tags, unknown keys) and
  reports them, when they changed, at most once a second, as a JSON line on its stdout; ``Tunnel``
  keeps the last report (``counters``) for the node's metrics (``network/metrics.py``).
- Keys are the managers' (``manager/netkeys.py``): three AES-128 keys, rotated every 12 hours, as
  Swarm's. A node sends with the second newest and accepts all three, so a new key is known
  everywhere a whole period before anyone sends with it, and a rotation drops no packet.

The overhead is 36 bytes on the tunnel and 70 for VXLAN over IPv6: a task on an encrypted overlay has
an MTU of 1366 (``ENCRYPTED_MTU``) where the plain overlay's is 1450.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ctypes
import fcntl
import ipaddress
import json
import logging
import os
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shoal.api.types import Network

log = logging.getLogger(__name__)

PREFIX = ipaddress.IPv6Network("fd5e:a1ed::/96")
PORT = 4790
TUN_NAME = "shs0"
TUN_QUEUE = 5000  # packets the kernel may queue for the tunnel process (a TUN device has 500)
VERSION = 1
HEADER = struct.Struct("!B3xI12s")  # version, key ID, nonce: 20 bytes, authenticated
TAG = 16
OVERHEAD = HEADER.size + TAG
TUN_MTU = 1500 - 20 - 8 - OVERHEAD  # an outer IPv4 + UDP packet fits Ethernet's 1500
ENCRYPTED_MTU = TUN_MTU - 40 - 8 - 8 - 14  # inside the tasks: VXLAN over IPv6 takes 70 more
VXLAN_PORT = 4789
WINDOW = 2048
REPORT_EVERY = 1.0  # seconds between the tunnel process's reports of its counters (when they changed)

_WINDOW_MASK = (1 << WINDOW) - 1
_PREFIX12 = PREFIX.network_address.packed[:12]
_VXLAN_PORT = VXLAN_PORT.to_bytes(2, "big")
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def encrypted(network: Network) -> bool:
    """The network was created with ``--opt encrypted``."""
    return "encrypted" in (network.DriverState.Options or {})


def inner_address(addr: str) -> str:
    """The node's address inside the tunnel: its IPv4 address under ``fd5e:a1ed::/96``."""
    v4 = ipaddress.IPv4Address(addr.split("/")[0])
    return str(ipaddress.IPv6Address(int(PREFIX.network_address) | int(v4)))


def primary_of(keys: list[dict[str, Any]]) -> int:
    """The key a node sends with: the second newest (the newest is only accepted until the next
    rotation makes it the second newest), or the only one."""
    ids = sorted(int(k["spi"]) for k in keys)
    return ids[-2] if len(ids) > 1 else ids[-1]


# ------------------------------------------------------------------ the packet format


class Sealer:
    """The sending side: seals packets under the primary key, with nonces that never repeat."""

    def __init__(self) -> None:
        self.salt = os.urandom(4)
        self.counter = 0
        self.current: tuple[int, AESGCM] | None = None

    def set_key(self, spi: int, key: bytes) -> None:
        if self.current is None or self.current[0] != spi:
            self.current = (spi, AESGCM(key))

    def seal(self, packet: bytes) -> bytes | None:
        cur = self.current
        if cur is None:
            return None
        self.counter += 1
        nonce = self.salt + self.counter.to_bytes(8, "big")
        header = HEADER.pack(VERSION, cur[0], nonce)
        return header + cur[1].encrypt(nonce, packet, header)


class Opener:
    """The receiving side: any current key, and a replay window per sender (salt) and key."""

    def __init__(self) -> None:
        self.keys: dict[int, AESGCM] = {}
        self.windows: dict[tuple[int, bytes], list[int]] = {}  # (key, salt) → [highest counter, bitmap]
        self.dropped = 0
        self.opened = 0

    def set_keys(self, keys: dict[int, bytes]) -> None:
        have = self.keys
        self.keys = {spi: have[spi] if spi in have else AESGCM(k) for spi, k in keys.items()}
        for w in [w for w in self.windows if w[0] not in self.keys]:
            del self.windows[w]

    def open(self, data: bytes) -> bytes | None:
        if len(data) < OVERHEAD or data[0] != VERSION:
            self.dropped += 1
            return None
        _, spi, nonce = HEADER.unpack_from(data)
        aead = self.keys.get(spi)
        if aead is None:
            self.dropped += 1
            return None
        salt, counter = nonce[:4], int.from_bytes(nonce[4:], "big")
        w = self.windows.get((spi, salt))
        if w is not None and (counter + WINDOW <= w[0] or (counter <= w[0] and w[1] >> (w[0] - counter) & 1)):
            self.dropped += 1  # a replay, or too old to tell
            return None
        try:
            packet = aead.decrypt(nonce, data[HEADER.size:], data[:HEADER.size])
        except InvalidTag:
            self.dropped += 1
            return None
        if w is None:
            self.windows[(spi, salt)] = [counter, 1]
        elif counter > w[0]:
            gap = counter - w[0]
            w[1] = ((w[1] << gap) | 1) & _WINDOW_MASK if gap < WINDOW else 1
            w[0] = counter
        else:
            w[1] |= 1 << (w[0] - counter)
        self.opened += 1
        return packet


def is_vxlan_to(packet: bytes, dst: bytes | None) -> bool:
    """An IPv6 UDP packet to VXLAN's port, to ``dst`` (16 bytes) or to any node's inner address."""
    return (len(packet) >= 48 and packet[0] >> 4 == 6 and packet[6] == 17 and packet[42:44] == _VXLAN_PORT
            and (packet[24:40] == dst if dst is not None else packet[24:36] == _PREFIX12))


# ------------------------------------------------------------------ the tunnel process


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


class TunnelProcess:
    """What runs in ``python -m shoal.network.seal``: two threads moving packets, and the control
    channel on stdin (one JSON object a line: ``{"addr": …, "keys": [{"spi", "key"}…]}``)."""

    def __init__(self, ifname: str, port: int) -> None:
        self.tun = open_tun(ifname)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.sock.bind(("0.0.0.0", port))
        self.port = port
        self.sealer = Sealer()
        self.opener = Opener()
        self.me: bytes | None = None

    def control(self, msg: dict[str, Any]) -> None:
        keys = {int(k["spi"]): base64.b64decode(k["key"]) for k in msg.get("keys") or []}
        self.me = ipaddress.IPv6Address(inner_address(msg["addr"])).packed
        self.opener.set_keys(keys)
        if keys:
            spi = primary_of(list(msg["keys"]))
            self.sealer.set_key(spi, keys[spi])

    def send(self, packet: bytes) -> None:
        """A packet the kernel put into the TUN device: sealed, to the node its destination embeds."""
        if not is_vxlan_to(packet, None):
            return  # neighbour discovery and the like: nothing but VXLAN leaves through the tunnel
        sealed = self.sealer.seal(packet)
        if sealed is not None:
            with contextlib.suppress(OSError):  # an unreachable peer must not stop the others
                self.sock.sendto(sealed, (socket.inet_ntoa(packet[36:40]), self.port))

    def receive(self, data: bytes) -> None:
        """A datagram from another node: opened, and handed to the kernel if it is VXLAN for us."""
        packet = self.opener.open(data)
        if packet is not None and is_vxlan_to(packet, self.me):
            with contextlib.suppress(OSError):
                os.write(self.tun, packet)

    def outbound(self) -> None:
        read, tun, send = os.read, self.tun, self.send
        while True:
            send(read(tun, 65536))

    def inbound(self) -> None:
        recv, receive = self.sock.recv, self.receive
        while True:
            receive(recv(65536))

    def counters(self) -> dict[str, int]:
        return {"sealed": self.sealer.counter, "opened": self.opener.opened, "refused": self.opener.dropped}

    def report(self) -> None:
        """The counters on stdout, a JSON line, when they changed (at most every ``REPORT_EVERY`` s)."""
        last: dict[str, int] = {}
        while True:
            time.sleep(REPORT_EVERY)
            now = self.counters()
            if now != last:
                print(json.dumps(now), flush=True)
                last = now

    def run(self) -> None:
        for fn in (self.outbound, self.inbound, self.report):
            threading.Thread(target=fn, name=fn.__name__, daemon=True).start()
        print("ready", flush=True)
        for line in sys.stdin:
            if line.strip():
                self.control(json.loads(line))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m shoal.network.seal", description=__doc__.splitlines()[0])
    ap.add_argument("--ifname", default=TUN_NAME)
    ap.add_argument("--port", type=int, default=PORT)
    args = ap.parse_args(argv)
    with contextlib.suppress(OSError, AttributeError):  # die with the daemon that started us
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    TunnelProcess(args.ifname, args.port).run()  # returns when the daemon closes stdin


# ------------------------------------------------------------------ the daemon's side


class Tunnel:
    """The node's tunnel, as the runtime drives it: started when the node gets keys (it has tasks on
    an encrypted network), given each new set of keys, stopped when none is left."""

    def __init__(self, ifname: str = TUN_NAME, port: int = PORT) -> None:
        self.ifname = ifname
        self.port = port
        self.proc: asyncio.subprocess.Process | None = None
        self.view: dict[str, Any] = {}
        self.ready = asyncio.Event()  # set while the tunnel runs with keys
        self.counters: dict[str, int] = {}  # the process's last report: sealed, opened, refused packets
        self._watch: asyncio.Task[None] | None = None
        self._reports: asyncio.Task[None] | None = None

    @property
    def local(self) -> str:
        """This node's inner address (the VXLAN ports' source)."""
        return inner_address(self.view["addr"])

    async def apply(self, view: dict[str, Any]) -> None:
        if not view.get("keys"):
            await self.close()
            return
        self.view = view
        if self.proc is None or self.proc.returncode is not None:
            await self._start()
        await self._send()
        self.ready.set()

    async def _start(self) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shoal.network.seal", "--ifname", self.ifname, "--port", str(self.port),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        line = await proc.stdout.readline()
        if line.strip() != b"ready":
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise OSError(f"the encrypted overlay's tunnel did not start (exit status {proc.returncode})")
        self.proc = proc
        self._reports = asyncio.ensure_future(self._read_reports(proc))
        await asyncio.to_thread(configure_tun, self.ifname, self.local)
        self._watch = asyncio.ensure_future(self._supervise(proc))

    async def _read_reports(self, proc: asyncio.subprocess.Process) -> None:
        """Keep the process's last report of its counters, until its stdout ends."""
        assert proc.stdout is not None
        async for line in proc.stdout:
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                self.counters = {str(k): int(v) for k, v in json.loads(line).items()}

    async def _send(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"addr": self.view["addr"], "keys": self.view["keys"]}).encode() + b"\n")
        await self.proc.stdin.drain()

    async def _supervise(self, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if proc is not self.proc:
            return
        log.warning("the encrypted overlay's tunnel exited (status %s); starting it again", code)
        self.proc = None
        while self.view and self.proc is None:
            await asyncio.sleep(1.0)
            with contextlib.suppress(OSError):
                await self.apply(self.view)

    async def close(self) -> None:
        self.view = {}
        self.ready.clear()
        proc, self.proc = self.proc, None
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._reports is not None:
            self._reports.cancel()
            self._reports = None
        if proc is not None and proc.returncode is None:
            assert proc.stdin is not None
            proc.stdin.close()  # the process ends at the end of its input; its TUN device goes with it
            try:
                await asyncio.wait_for(proc.wait(), 2.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def configure_tun(ifname: str, inner: str) -> None:
    """The TUN device's MTU, its inner address and the route to every node's: the whole prefix."""
    from pyroute2 import IPRoute  # imported here: the tunnel process itself never needs it

    with contextlib.suppress(OSError):  # a node whose IPv6 is off by default still gets it here
        Path(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6").write_text("0")
    with IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=ifname)[0]
        ipr.link("set", index=idx, mtu=TUN_MTU, txqlen=TUN_QUEUE, state="up")
        have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=idx, family=socket.AF_INET6)}
        if inner not in have:
            ipr.addr("add", index=idx, address=inner, prefixlen=PREFIX.prefixlen, family=socket.AF_INET6,
                     flags=0x02)  # IFA_F_NODAD: nobody else answers on a TUN device


if __name__ == "__main__":
    main()
