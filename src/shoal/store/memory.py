"""In-memory backend for unit tests: the same semantics as SQLite, nothing on disk."""

from __future__ import annotations

from shoal import metrics
from shoal.store.backend import KV, Event
from shoal.store.embedded import EmbeddedBackend


class MemoryBackend(EmbeddedBackend):
    def __init__(self) -> None:
        super().__init__()
        self._kv: dict[str, KV] = {}
        self._log: list[Event] = []

    def _get(self, key: str) -> KV | None:
        return self._kv.get(key)

    def _range(self, prefix: str) -> list[KV]:
        return [kv for k, kv in sorted(self._kv.items()) if k.startswith(prefix)]

    def _persist(self, revision: int, events: list[Event]) -> None:
        for ev in events:
            if ev.type == "put":
                self._kv[ev.kv.key] = ev.kv
            else:
                self._kv.pop(ev.kv.key, None)
        self._log.extend(events)

    def _history(self, prefix: str, after_revision: int) -> list[Event]:
        return [e for e in self._log if e.revision > after_revision and e.kv.key.startswith(prefix)]

    def _compact(self, revision: int) -> None:
        self._log = [e for e in self._log if e.revision >= revision]
        metrics.compacted("memory")

    def _keys_with_lease(self, lease: int) -> list[str]:
        return [k for k, kv in self._kv.items() if kv.lease == lease]
