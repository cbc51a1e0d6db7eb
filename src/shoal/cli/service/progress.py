"""Following a service to convergence after ``create``, ``update``, ``scale`` or ``rollback`` (unless
``-d``), drawn as docker's ``progress.ServiceProgress`` draws it: an overall line and, for up to 20
tasks, a bar per replica slot (replicated) or per node (global), polling every 200 ms, without
docker's extra monitor-period wait. On a terminal the lines are redrawn in place; elsewhere each
change is a new line.

A job is followed until its current run completed (``job complete``): a replicated job shows
``job progress: N out of T complete``, ``active tasks: A out of M tasks`` and a bar per slot (slot
*n* as ``n+1/T``), a global job its completions over the nodes that had a task when it began; only
tasks of the job's current run (``JobIteration``) count.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO, Any

from shoal.cli.client import Client, DockerError, filters_param, path_ref
from shoal.cli.output import truncate_id

NUMBERED = {"new": 1, "allocated": 2, "pending": 3, "assigned": 4, "accepted": 5, "preparing": 6, "ready": 7,
            "starting": 8, "running": 9, "complete": 10, "shutdown": 11, "failed": 12, "rejected": 13}
LONGEST_STATE = 9
MAX_BARS = 20


def _terminal(state: str) -> bool:
    return NUMBERED.get(state, 0) > NUMBERED["running"]


def trunc_error(msg: str) -> str:
    msg = msg.replace("\n", " ")
    return msg[:74] + "…" if len(msg) > 75 else msg


class ProgressOut:
    """Where progress goes: on a terminal one line per ID, redrawn in place (as docker's jsonmessage
    does); elsewhere a plain line each time an ID's text changes."""

    def __init__(self, out: IO[str] | None = None, quiet: bool = False) -> None:
        self.out = out or sys.stdout
        self.quiet = quiet
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.order: list[str] = []
        self.lines: dict[str, str] = {}

    def write(self, id_: str, action: str, current: int = 0, total: int = 0) -> None:
        if self.quiet:
            return
        bar = ""
        if self.tty and total > 0:
            pct = min(int(current / total * 100) // 2, 50)
            bar = f" [{'=' * pct}>{' ' * (50 - pct)}] "
        text = f"{id_}: {action}{bar}" if id_ else f"{action}{bar}"
        if self.lines.get(id_) == text:
            return
        if not self.tty:
            self.lines[id_] = text
            self.out.write(text.rstrip() + "\n")
            self.out.flush()
            return
        if id_ not in self.lines:
            self.order.append(id_)
            self.lines[id_] = text
            self.out.write(text + "\n")
        else:
            self.lines[id_] = text
            up = len(self.order) - self.order.index(id_)
            self.out.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")
        self.out.flush()


def overall(out: ProgressOut, n: int, total: int, rollback: bool) -> None:
    if rollback:
        out.write("overall progress", f"rolling back update: {n} out of {total} tasks")
    else:
        out.write("overall progress", f"{n} out of {total} tasks")


def _newest_per(tasks: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any],
                keep: Callable[[dict[str, Any]], bool] = lambda t: True) -> dict[Any, dict[str, Any]]:
    """For each key (slot or node) the task furthest along, by desired state, then by state; tasks
    in states docker does not number, or not kept, are left out."""
    by_key: dict[Any, dict[str, Any]] = {}
    for t in tasks:
        ds, st = t.get("DesiredState", ""), (t.get("Status") or {}).get("State", "")
        if not NUMBERED.get(ds) or not NUMBERED.get(st):
            continue
        ex = by_key.get(key(t))
        if ex is not None:
            eds, est = NUMBERED[ex["DesiredState"]], NUMBERED[ex["Status"]["State"]]
            if eds < NUMBERED[ds] or (eds == NUMBERED[ds] and est <= NUMBERED[st]):
                continue
        if not keep(t):
            continue
        by_key[key(t)] = t
    return by_key


def _running(t: dict[str, Any]) -> bool:
    return not _terminal(t["DesiredState"]) and t["Status"]["State"] == "running"


def _write_task(out: ProgressOut, id_: str, t: dict[str, Any]) -> None:
    """A task's bar: its error, or its state while neither it nor its desired state is final."""
    err = t["Status"].get("Err", "")
    if err:
        out.write(id_, trunc_error(err))
    elif not _terminal(t["DesiredState"]) and not _terminal(t["Status"]["State"]):
        st = t["Status"]["State"]
        out.write(id_, f"{st:<{LONGEST_STATE}}", NUMBERED[st], 9)


class ReplicatedProgress:
    def __init__(self, out: ProgressOut) -> None:
        self.out = out
        self.slot_map: dict[int, int] = {}
        self.initialized = False
        self.done = False

    def update(self, svc: dict[str, Any], tasks: list[dict[str, Any]], active: set[str], rollback: bool) -> bool:
        replicas = ((svc["Spec"].get("Mode") or {}).get("Replicated") or {}).get("Replicas")
        if replicas is None:
            raise DockerError("no replica count")
        if not self.initialized:
            overall(self.out, 0, replicas, rollback)
            if replicas <= MAX_BARS:
                for i in range(1, replicas + 1):
                    self.out.write(f"{i}/{replicas}", " ")
            self.initialized = True
        by_slot = _newest_per(tasks, lambda t: t.get("Slot", 0),
                              lambda t: not t.get("NodeID") or t["NodeID"] in active)
        if self.done and any(t["Status"]["State"] != "running" for t in by_slot.values()):
            self.done = False
        running = 0
        for slot in sorted(by_slot):
            t = by_slot[slot]
            mapped = self.slot_map.get(slot) or len(self.slot_map) + 1
            self.slot_map[slot] = mapped
            if _running(t):
                running += 1
            if self.done or replicas > MAX_BARS or mapped > replicas:
                continue
            _write_task(self.out, f"{mapped}/{replicas}", t)
        if not self.done:
            overall(self.out, running, replicas, rollback)
            if running == replicas:
                self.done = True
        return running == replicas


class GlobalProgress:
    def __init__(self, out: ProgressOut) -> None:
        self.out = out
        self.initialized = False
        self.done = False

    def update(self, svc: dict[str, Any], tasks: list[dict[str, Any]], active: set[str], rollback: bool) -> bool:
        by_node = _newest_per(tasks, lambda t: t.get("NodeID", ""))
        count = len(by_node)
        if not self.initialized:
            if count == 0:
                self.out.write("overall progress", "waiting for new tasks")
                return False
            overall(self.out, 0, count, rollback)
            self.initialized = True
        if self.done and any(t["Status"]["State"] != "running" for t in by_node.values()):
            self.done = False
        running = 0
        for node_id in sorted(by_node):
            t = by_node[node_id]
            if node_id not in active:
                continue
            if _running(t):
                running += 1
            if self.done or count > MAX_BARS:
                continue
            _write_task(self.out, truncate_id(node_id), t)
        if not self.done:
            overall(self.out, running, count, rollback)
            if running == count:
                self.done = True
        return running == count


class _Rollout:
    """What the service's UpdateStatus has said so far: whether it is rolling back, and the message
    to show once it converged (a finished rollback's)."""

    def __init__(self, po: ProgressOut) -> None:
        self.po = po
        self.rollback = False
        self.message: str | None = None

    def saw(self, us: dict[str, Any]) -> None:
        """Take one UpdateStatus in; a paused update or rollback ends the wait with docker's error."""
        state = us.get("State", "")
        if state == "updating":
            self.rollback = False
        elif state == "paused":
            raise DockerError(f"service update paused: {us.get('Message', '')}")
        elif state == "rollback_started":
            if not self.rollback and us.get("Message"):
                self.po.write("rollback", us["Message"])
            self.rollback = True
        elif state == "rollback_paused":
            raise DockerError(f"service rollback paused: {us.get('Message', '')}")
        elif state == "rollback_completed":
            self.message = us.get("Message", "")
            self.rollback = True


def _job_run(svc: dict[str, Any]) -> int:
    return int(((svc.get("JobStatus") or {}).get("JobIteration") or {}).get("Index", 0))


def _of_run(t: dict[str, Any], run: int) -> bool:
    it = t.get("JobIteration")
    return it is not None and it.get("Index", 0) == run


def _lowest_per(tasks: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any]) -> dict[Any, dict[str, Any]]:
    """For each key (slot or node) the task of lowest state (docker's job progress keeps that one)."""
    out: dict[Any, dict[str, Any]] = {}
    for t in tasks:
        st = (t.get("Status") or {}).get("State", "")
        if not NUMBERED.get(t.get("DesiredState", "")) or not NUMBERED.get(st):
            continue
        ex = out.get(key(t))
        if ex is None or NUMBERED[ex["Status"]["State"]] > NUMBERED[st]:
            out[key(t)] = t
    return out


def _write_job_task(out: ProgressOut, id_: str, t: dict[str, Any]) -> None:
    err = t["Status"].get("Err", "")
    st = t["Status"]["State"]
    out.write(id_, trunc_error(err) if err else f"{st:<{LONGEST_STATE}}", 0 if err else NUMBERED[st], 10)


class ReplicatedJobProgress:
    def __init__(self, out: ProgressOut, svc: dict[str, Any]) -> None:
        rj = svc["Spec"]["Mode"]["ReplicatedJob"]
        self.out = out
        self.concurrent, self.total = int(rj.get("MaxConcurrent") or 0), int(rj.get("TotalCompletions") or 0)
        self.run = _job_run(svc)
        self.digits, self.active_digits = len(str(self.total)), len(str(self.concurrent))
        self.initialized = False

    def _overall(self, active: int, complete: int) -> None:
        self.out.write("job progress", f"{complete:>{self.digits}} out of {self.total} complete", complete, self.total)
        most = min(self.total - complete, self.concurrent)
        w = self.active_digits
        self.out.write("active tasks", f"{active:>{w}} out of {most:>{w}} tasks")

    def update(self, svc: dict[str, Any], tasks: list[dict[str, Any]], active: set[str], rollback: bool) -> bool:
        if not self.initialized:
            self._overall(0, 0)
            if self.total <= MAX_BARS:
                for i in range(1, self.total + 1):
                    self.out.write(f"{i}/{self.total}", " ")
            self.initialized = True
        by_slot = _lowest_per([t for t in tasks if _of_run(t, self.run)], lambda t: t.get("Slot", 0))
        running = complete = 0
        for slot in sorted(by_slot):
            t = by_slot[slot]
            if self.total <= MAX_BARS:
                _write_job_task(self.out, f"{slot + 1}/{self.total}", t)
            state = NUMBERED[t["Status"]["State"]]
            running += state < NUMBERED["complete"]
            complete += state == NUMBERED["complete"]
        self._overall(running, complete)
        return complete == self.total


class GlobalJobProgress:
    def __init__(self, out: ProgressOut) -> None:
        self.out = out
        self.nodes: set[str] | None = None  # the nodes with a task of the run when it was first seen
        self.digits = 1

    def _overall(self, complete: int) -> None:
        total = len(self.nodes or ())
        self.out.write("job progress", f"{complete:>{self.digits}} out of {total} complete", complete, total)

    def update(self, svc: dict[str, Any], tasks: list[dict[str, Any]], active: set[str], rollback: bool) -> bool:
        run = _job_run(svc)
        mine = [t for t in tasks if _of_run(t, run)]
        if self.nodes is None:
            if not tasks and active:
                self.out.write("job progress", "waiting for tasks")
                return False
            self.nodes = {t.get("NodeID", "") for t in mine}
            self.digits = len(str(len(self.nodes)))
            self._overall(0)
        by_node = _lowest_per([t for t in mine if t.get("NodeID", "") in self.nodes], lambda t: t.get("NodeID", ""))
        complete = 0
        for node_id in sorted(by_node):
            t = by_node[node_id]
            if len(self.nodes) <= MAX_BARS:
                _write_job_task(self.out, node_id, t)
            complete += t["Status"]["State"] == "complete"
        self._overall(complete)
        return complete == len(self.nodes)


Progress = ReplicatedProgress | GlobalProgress | ReplicatedJobProgress | GlobalJobProgress


def _progress_for(svc: dict[str, Any], po: ProgressOut) -> Progress:
    mode = svc["Spec"].get("Mode") or {}
    if mode.get("Replicated") is not None and mode["Replicated"].get("Replicas") is not None:
        return ReplicatedProgress(po)
    if mode.get("Global") is not None:
        return GlobalProgress(po)
    if mode.get("ReplicatedJob") is not None:
        return ReplicatedJobProgress(po, svc)
    if mode.get("GlobalJob") is not None:
        return GlobalJobProgress(po)
    raise DockerError("unrecognized service mode")


def wait_on_service(c: Client, service_ref: str, quiet: bool = False, interval: float = 0.2,
                    out: IO[str] | None = None) -> None:
    """Follow a service until its up-to-date tasks run (docker's ``ServiceProgress``, minus the
    monitor-period verification wait)."""
    po = ProgressOut(out, quiet)
    updater: Progress | None = None
    rollout = _Rollout(po)
    converged = False
    try:
        while True:
            svc = c.get(f"/services/{path_ref(service_ref)}")
            if updater is None:
                updater = _progress_for(svc, po)
            us = svc.get("UpdateStatus") or {}
            if us.get("State", "") == "completed" and not converged:
                return
            rollout.saw(us)
            tasks = c.get("/tasks", {"filters": filters_param({"service": [svc["ID"]], "_up-to-date": ["true"]})})
            nodes = c.get("/nodes") or []
            active = {n["ID"] for n in nodes if (n.get("Status") or {}).get("State") != "down"}
            converged = updater.update(svc, tasks or [], active, rollout.rollback)
            if converged and svc.get("JobStatus") is not None:  # a job stays done: nothing to verify
                po.write("", "job complete")
                return
            if converged:
                po.write("verify", f"Service {service_ref} converged")
                if rollout.message is not None:
                    po.write("rollback", rollout.message)
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        po.write("", "Operation continuing in background.")
        po.write("", f"Use `docker service ps {service_ref}` to check progress.")
