"""The encrypted overlays' keys: made, kept and rotated by the leader, as SwarmKit's key manager does.

The cluster object holds three AES-128 keys (``Cluster.NetworkBootstrapKeys``), each with a Lamport
time from the cluster's clock. Every ``interval`` (12 hours, Swarm's; ``SHOAL_NETWORK_KEY_ROTATION``
in seconds overrides it, for tests) the leader adds a new key and drops the oldest. Nodes send with
the second newest key and accept all three (``network/seal.py``), so each key is known everywhere a
whole period before it is used. The dispatcher hands the keys only to nodes with tasks on an
encrypted network; the store encrypts them at rest with the data key, like every value.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable

from shoal.api.types import Cluster, EncryptionKey
from shoal.manager.loop import Loop
from shoal.store.objects import Change, ObjectStore

SUBSYSTEM = "networking:overlay"
ALGORITHM = "aes-gcm"
KEYS = 3
KEY_BYTES = 16
DEFAULT_ROTATION = 12 * 3600.0


def rotation_interval() -> float:
    return float(os.environ.get("SHOAL_NETWORK_KEY_ROTATION") or DEFAULT_ROTATION)


def rotate(c: Cluster, now: float, interval: float) -> bool:
    """Fill the cluster's keys up to three, or replace the oldest when the newest is ``interval`` old;
    whether anything changed."""
    keys = sorted(c.NetworkBootstrapKeys or [], key=lambda k: k.LamportTime)
    due = len(keys) < KEYS or now - keys[-1].CreatedAt >= interval
    if not due:
        return False
    while True:
        c.EncryptionKeyLamportClock += 1
        keys.append(EncryptionKey(Subsystem=SUBSYSTEM, Algorithm=ALGORITHM,
                                  Key=base64.b64encode(os.urandom(KEY_BYTES)).decode(),
                                  LamportTime=c.EncryptionKeyLamportClock, CreatedAt=now))
        if len(keys) >= KEYS:
            break
    c.NetworkBootstrapKeys = keys[-KEYS:]
    return True


def node_keys(c: Cluster | None) -> list[dict[str, object]]:
    """The keys as a node gets them: key ID (the Lamport time) and key."""
    return [{"spi": k.LamportTime, "key": k.Key} for k in (c.NetworkBootstrapKeys if c else None) or []]


class NetworkKeyManager(Loop):
    name = "netkeys"

    def __init__(self, store: ObjectStore, clock: Callable[[], float] = time.time,
                 interval: float | None = None) -> None:
        super().__init__()
        self.store = store
        self.clock = clock
        self.interval = rotation_interval() if interval is None else interval

    def start(self) -> None:
        self._unsubscribe = self.store.subscribe(self.on_change)
        super().start()
        self.kick()

    def on_change(self, ch: Change) -> None:
        if ch.kind == "clusters":
            self.kick()

    async def tick(self) -> None:
        now = self.clock()

        def due(c: Cluster) -> bool:
            return rotate(c, now, self.interval)

        for c in self.store.list(Cluster):
            c = await self.store.update_with(Cluster, c.ID, due) or c
            newest = max((k.CreatedAt for k in c.NetworkBootstrapKeys or []), default=now)
            self.kick_at(newest + self.interval - now)
