"""A task whose sandbox cannot be made (the default bridge's pool empty, the bridge full) on a node that
keeps failing it: the agent's runner (``agent/executor.py``) reports it failed once with the network's
words, and the orchestrator makes the slot's next task at once but lets it start only after the restart
delay (5 s by default, Swarm's), on the harness's fake clock: one failure per delay per slot, no storm."""

from __future__ import annotations

import itertools

from shoal.agent.executor import TaskRunner
from shoal.api.states import TaskState
from shoal.api.types import Task, TaskStatus
from shoal.network.sandbox import SandboxError
from shoal.runtime.base import Networking
from shoal.runtime.fake import FakeRuntime
from tests.unit.agent.test_executor import FakeNetwork

from ...helpers import until
from .harness import Harness, spec

ERR = "starting container failed: no available IPv4 addresses on this network's address pools: bridge (b1)"


class Node:
    """What the scheduler and one node's agent do with the service's tasks: each new task wanted
    ``ready`` or ``running`` is assigned here and given a runner whose sandbox always fails."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.rt = FakeRuntime(images={"busybox:latest"}, networking=Networking.JOIN)
        self.net = FakeNetwork(self.rt, fail=SandboxError(ERR))
        self.runners: dict[str, TaskRunner] = {}
        self.made_at: dict[str, float] = {}  # task → the fake clock when the orchestrator made it

    async def _report(self, task_id: str, status: TaskStatus) -> None:
        def f(x: Task) -> bool:
            x.Status = status
            return True

        await self.h.store.update_with(Task, task_id, f)

    async def step(self) -> None:
        """Assign and run the new tasks, hand the runners their tasks' changes, until every runner is
        done with what it was given; then let the orchestrator act on it."""
        for t in self.h.tasks():
            r = self.runners.get(t.ID)
            if r is not None:
                r.update(t)
            elif t.DesiredState <= TaskState.RUNNING and not t.Status.State.terminal:
                self.made_at[t.ID] = self.h.clock()

                def assign(x: Task) -> bool:
                    x.NodeID, x.Status.State = "n1", TaskState.ASSIGNED
                    return True

                got = await self.h.store.update_with(Task, t.ID, assign)
                assert got is not None
                r = self.runners[t.ID] = TaskRunner(got, self.rt, self._report, network=self.net)
                r.start()
        await until(lambda: all(r.state.terminal for r in self.runners.values()), what="the runners to fail")
        await self.h.settle()

    def sandboxes_tried(self) -> int:
        return sum(1 for name in self.rt.call_names() if name == "create_sandbox")

    async def stop(self) -> None:
        for r in self.runners.values():
            if r._task is not None and not r._task.done():
                r._task.cancel()


async def test_a_sandbox_failure_fails_once_and_the_slot_waits_the_restart_delay(h: Harness) -> None:
    await h.create(spec(replicas=1))
    node = Node(h)
    try:
        await node.step()
        (first,) = [t for t in h.tasks() if t.Status.State == TaskState.FAILED]
        assert first.Status.Err == ERR and node.sandboxes_tried() == 1
        (r1,) = h.wanted()
        assert r1.DesiredState == TaskState.READY  # made at once, started after the delay
        await node.step()  # the replacement is assigned and prepared while it waits: it fails too
        assert h.get(r1).Status.State == TaskState.FAILED and h.get(r1).Status.Err == ERR

        # However often the node and the orchestrator look, nothing new before the delay has passed.
        for _ in range(5):
            h.clock.advance(0.9)
            await h.tick()
            await node.step()
        assert len(h.tasks()) == 2 and node.sandboxes_tried() == 2
        h.clock.advance(0.6)  # 5.1 s after r1 was made
        await h.tick()
        await node.step()
        assert len(h.tasks()) == 3 and node.sandboxes_tried() == 3

        # A minute of it: one task (one failure) per 5 s in the slot, each reported once.
        for _ in range(120):
            h.clock.advance(0.5)
            await h.tick()
            await node.step()
        tasks = h.tasks()
        assert 13 <= len(tasks) <= 15
        assert node.sandboxes_tried() == len(tasks)
        for t in tasks:
            assert t.Status.State == TaskState.FAILED and t.Status.Err == ERR
        made = sorted(node.made_at[t.ID] for t in tasks)
        gaps = [b - a for a, b in itertools.pairwise(made[1:])]  # between replacements
        assert gaps and min(gaps) >= 5.0 - 1e-6
    finally:
        await node.stop()
