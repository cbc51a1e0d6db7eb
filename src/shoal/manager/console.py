"""The web console's view of the cluster (``api/console.py``; issue 17), kept from the store's changes.

Stand-in on main until the console's core lands: every call raises NotImplementedError.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from shoal.api.console import ConsoleChange, ConsoleSummary, NodePage, PayloadRow, TaskDetail, TaskPage, WorkloadPage
from shoal.store.objects import ObjectStore


class ConsoleView:
    """Implements ``nodeapi.Console`` over a manager's store."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def summary(self) -> ConsoleSummary:
        raise NotImplementedError

    def nodes(self, query: str = "", offset: int = 0, limit: int = 100) -> NodePage:
        raise NotImplementedError

    def tasks(self, node: str = "", owner: str = "", state: str = "", query: str = "", offset: int = 0,
              limit: int = 100) -> TaskPage:
        raise NotImplementedError

    def task(self, task_id: str) -> TaskDetail:
        raise NotImplementedError

    def workloads(self, query: str = "", offset: int = 0, limit: int = 100) -> WorkloadPage:
        raise NotImplementedError

    def payloads(self, query: str = "") -> list[PayloadRow]:
        raise NotImplementedError

    async def changes(self) -> AsyncIterator[ConsoleChange]:
        raise NotImplementedError
        yield  # pragma: no cover

    async def scale(self, kind: str, workload_id: str, replicas: int) -> None:
        raise NotImplementedError

    async def rollback(self, kind: str, workload_id: str) -> None:
        raise NotImplementedError

    async def set_availability(self, node_id: str, availability: str) -> None:
        raise NotImplementedError
