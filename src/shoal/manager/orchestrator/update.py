"""Rolling updates: replace tasks made from an older spec, a batch at a time, as Swarm does.

``UpdateSupervisor`` owns an update's memory (the monitor: when tasks started running, which failed)
and drives one service's update per reconcile; ``rolling.py`` sorts the slots and starts batches,
``monitor.py`` watches the new tasks and decides pause, rollback or go on.

``UpdateConfig`` (Swarm's defaults: parallelism 1, delay 0, failure action pause, monitor 5 s, order
stop-first) drives it. An update starts when a service whose spec changed (it has a
``PreviousSpec``) has dirty slots; its status goes ``updating`` → ``completed`` (or ``paused``, or
``rollback_started`` → ``rollback_completed``/``rollback_paused``). Tasks whose spec is unchanged (a
scale, a label change) only get the new spec version in place, and are no update.
"""

from __future__ import annotations

from shoal.api.defaults import SECOND
from shoal.api.types import Service, UpdateStatus, now_ts
from shoal.manager.orchestrator import rolling
from shoal.manager.orchestrator.common import update_config
from shoal.manager.orchestrator.monitor import IN_PROGRESS, UpdateMonitor
from shoal.manager.orchestrator.plan import Plan
from shoal.manager.orchestrator.restart import RestartSupervisor
from shoal.manager.workqueue import Clock

PAUSED = ("paused", "rollback_paused")


class UpdateSupervisor:
    def __init__(self, clock: Clock, restarts: RestartSupervisor) -> None:
        self.clock = clock
        self.restarts = restarts  # holds stop-first replacements until their old task stopped
        self.monitor = UpdateMonitor(clock)
        self.observe = self.monitor.observe  # every task change goes through it: one call

    def forget_service(self, service_id: str) -> None:
        self.monitor.forget_service(service_id)

    def reconcile(self, plan: Plan, service: Service) -> None:
        """Advance the service's update by what this plan holds; ``plan.again_in`` says when to look again."""
        slots = rolling.sort_slots(plan, service)
        dirty = rolling.bring_fresh_tasks_up_to_date(plan, service, slots)
        cfg = update_config(service)
        now = self.clock()
        monitor = cfg.Monitor / SECOND
        status = service.UpdateStatus
        in_flight, watched = self._in_flight(plan, slots, status, monitor, now)
        failed = self.monitor.failed_task(plan.store, service, status, cfg, monitor, len(slots), now)

        if status is None or status.State not in (*IN_PROGRESS, *PAUSED):
            if not dirty or service.PreviousSpec is None:
                return  # a new service or nothing to replace: the slot logic made what is needed
            status = plan.edit_service(service).UpdateStatus = UpdateStatus(
                State="updating", StartedAt=now_ts(), Message="update in progress")
        if status.State in PAUSED:
            return
        if failed is not None and self.monitor.act_on_failure(plan, service, status, cfg, failed):
            return
        if not dirty and in_flight == 0 and watched == 0:
            self.monitor.complete(plan, service, status)
            return
        n = rolling.room(cfg, len(dirty), in_flight)
        batch = sorted(dirty, key=str)[:n]
        rolling.start_batch(plan, service, cfg, slots, batch, self.restarts, cfg.Delay / SECOND)
        if batch:
            plan.again_in(cfg.Delay / SECOND)  # the next batch, once this one's delay has passed

    def _in_flight(self, plan: Plan, slots: dict[rolling.SlotKey, rolling.Slot], status: UpdateStatus | None,
                   monitor: float, now: float) -> tuple[int, int]:
        """Slots that count against the parallelism (their new task is not running yet), and those whose
        new task runs inside its monitor window (they hold the update's completion, as SwarmKit's
        updater watches one monitor period after its last slot); asks for a look when a window ends."""
        n = watched = 0
        for slot in slots.values():
            if slot.fresh and status is not None and status.State in IN_PROGRESS:
                busy, left = self.monitor.in_flight(slot.fresh[0], status, monitor, now)
                n += busy
                if left is not None:
                    watched += 1
                    plan.again_in(left)
            elif slot.fresh and slot.stale:
                n += 1  # mid-replacement outside an update (start-first waiting for its new task)
        return n, watched

