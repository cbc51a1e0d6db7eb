"""The writes one reconcile of one service wants, before they are committed.

A ``Plan`` holds modified copies of the service's existing tasks, its new tasks, a modified copy of
the service itself (its update status), the replacement tasks promoted out of their restart delay,
and when the service should be looked at again (a restart delay, an update's monitor window). The
orchestrator commits the plans of many services together; a plan that fails to build is dropped
whole, so a service is never half written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shoal.api.types import Service, Task, clone
from shoal.store.objects import ObjectStore


@dataclass
class Plan:
    store: ObjectStore
    changed: dict[str, Task] = field(default_factory=dict)
    created: list[Task] = field(default_factory=list)
    service: Service | None = None  # the edited copy, if the service itself changes
    promoted: list[str] = field(default_factory=list)  # replacements started now (restart delay over)
    again: float | None = None  # seconds until this service should be reconciled again

    def create(self, t: Task) -> None:
        self.created.append(t)

    def uncreate(self, t: Task) -> None:
        self.created.remove(t)

    def size(self) -> int:
        return len(self.changed) + len(self.created) + (self.service is not None)

    def edit(self, t: Task) -> Task:
        c = self.changed.get(t.ID)
        if c is None:
            c = clone(t)
            self.changed[t.ID] = c
        return c

    def current(self, t: Task) -> Task:
        return self.changed.get(t.ID, t)

    def edit_service(self, s: Service) -> Service:
        if self.service is None:
            self.service = clone(s)
        return self.service

    def again_in(self, seconds: float | None) -> None:
        """Look at this service again after ``seconds`` (the soonest of all the asks wins)."""
        if seconds is not None:
            self.again = seconds if self.again is None else min(self.again, seconds)

    def writes(self) -> tuple[list[Task], list[Task | Service]]:
        """What to commit: the new tasks, and the changed tasks and service."""
        updates: list[Task | Service] = [*self.changed.values()]
        if self.service is not None:
            updates.append(self.service)
        return self.created, updates
