"""The Job controller (the leader's, on a keyed work queue: key = the Job's ID), with the rule of
Kubernetes' TTL-after-finished controller for finished Jobs.

Each sync reads the Job and its Pods from the store's cache and is idempotent, as Kubernetes'
``JobController.syncJob``:

* **claim**: the Pods whose controller reference is the Job (and, as a ReplicaSet does, orphans of its
  namespace its selector matches, adopted; its own that no longer match are released);
* **count**: a Pod that ended is counted once, in ``status.succeeded`` (it completed: phase
  Succeeded) or ``status.failed`` (any other end); the counted ones are listed in the status
  (``Counted``, never shown: Kubernetes tracks them with a finalizer on each Pod), so a Pod deleted
  later still counts. ``status.active`` is the Pods not ended and not being deleted, ``ready`` those
  of them that are ready;
* **finish**: the Job fails when ``failed > backoffLimit`` (or, under ``restartPolicy: OnFailure``,
  when its running Pods' containers have restarted ``backoffLimit`` times in all: more than 0 when
  the limit is 0), reason ``BackoffLimitExceeded``, ``Job has reached the specified backoff
  limit``; or once it has been active ``activeDeadlineSeconds`` since ``startTime``, reason
  ``DeadlineExceeded``, ``Job was active longer than specified deadline``. It succeeds when
  ``succeeded`` reaches ``completions`` (without completions, a work queue: once a Pod succeeded
  and none is active), reason ``CompletionsReached``, ``Reached expected number of succeeded
  pods``. As Kubernetes 1.31+ does, the decision is first the condition ``FailureTarget`` or
  ``SuccessCriteriaMet``, the active Pods are deleted, and once none is left terminating
  (``status.terminating``) the final ``Failed`` or ``Complete`` follows (with ``completionTime`` for
  a success), with the event ``Completed`` ``Job completed`` or the failure's reason and message
  (Warning);
* **manage**: otherwise it keeps ``min(parallelism, completions - succeeded)`` Pods active (a work
  queue: ``parallelism`` until one succeeded, then no new ones), named ``<job>-<5 random
  characters>``, with the template's labels (the generated selector's ``controller-uid`` and
  ``job-name``, ``api/batch.py``) and a controller reference to the Job; too many: the newest go
  first. In ``Indexed`` mode each Pod has a completion index (0 … completions-1) not yet succeeded
  and not running: in its name (``<job>-<index>-<5 characters>``), its hostname (``<job>-<index>``),
  the annotation and label ``batch.kubernetes.io/job-completion-index`` and the environment variable
  ``JOB_COMPLETION_INDEX``; ``status.completedIndexes`` lists the succeeded ones (``0-2,4``). After a
  failure new Pods wait the back-off: 10 s after the first failure since the last success, doubled
  with each further one, at most 6 minutes (Kubernetes' documented pod failure back-off), counted
  from the last failed Pod's end;
* **suspend**: a suspended Job deletes its active Pods and makes none, condition ``Suspended`` True
  (``JobSuspended``, ``Job suspended``; event ``Suspended``); resumed, the condition turns False
  (``JobResumed``, ``Job resumed``; event ``Resumed``) and ``startTime`` starts again;
* **TTL**: a finished Job with ``ttlSecondsAfterFinished`` is deleted (in the foreground: its Pods go
  first) that many seconds after it finished (``completionTime``, or its ``Failed`` condition's
  transition).

The key comes back when a deadline, a back-off or a TTL will pass. A Pod's creation or deletion is
committed before the sync ends, so the next sync sees it (no expectations are needed).
"""

from __future__ import annotations

from typing import Any

import msgspec

from shoal.api import batch
from shoal.api.errors import AlreadyExists, NotFound
from shoal.api.meta import ObjectRef, OwnerReference
from shoal.api.states import TaskState
from shoal.api.types import BatchJobStatus, Job, JobCondition, Task, clone, parse_ts
from shoal.manager.kube import workloads as wl
from shoal.manager.kube.events import timestamp
from shoal.manager.kube.objects import random_suffix
from shoal.store.objects import Change

KIND = "Job"
API_VERSION = "batch/v1"
COMPONENT = "job-controller"
BURST = 500
MAX_GENERATED_BASE = 58
BACKOFF_BASE = 10.0  # seconds: the first failed Pod's back-off
BACKOFF_MAX = 600.0  # the job controller's MaxJobPodFailureBackOff (10 min; its docs still say six)

BACKOFF_LIMIT_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")
# The condition a Job gets when its end is decided, before its last Pods have stopped.
INTERIM = {"Complete": "SuccessCriteriaMet", "Failed": "FailureTarget"}


# ---------------------------------------------------------------- arithmetic


def pod_succeeded(t: Task) -> bool:
    return t.Status.State == TaskState.COMPLETE


def pod_ended(t: Task) -> bool:
    return t.Status.State.terminal


def finished_at(t: Task) -> float:
    """When an ended Pod ended (its task's last status change)."""
    return parse_ts(t.Status.Timestamp or t.CreatedAt)


def wanted_active(job: Job, succeeded: int, active: int) -> int:
    """How many Pods should be active: ``min(parallelism, completions - succeeded)``; a work queue
    (no completions) keeps ``parallelism`` until one succeeded, then leaves the ``active`` ones be and
    makes no more."""
    parallelism = max(job.Spec.Parallelism, 0)
    if job.Spec.Completions is None:
        return active if succeeded > 0 else parallelism
    return max(min(parallelism, job.Spec.Completions - succeeded), 0)


def backoff_delay(failures: int) -> float:
    """The wait before a new Pod after ``failures`` failures in a row: 10 s, 20 s, 40 s … at most 6 min."""
    if failures <= 0:
        return 0.0
    return min(BACKOFF_BASE * 2 ** min(failures - 1, 30), BACKOFF_MAX)


def backoff_remaining(pods: list[Task], now: float) -> float:
    """How long new Pods must still wait after the failures since the last success (0: none)."""
    ended = sorted((p for p in pods if pod_ended(p)), key=finished_at)
    failures, last = 0, 0.0
    for p in ended:
        if pod_succeeded(p):
            failures = 0
        else:
            failures += 1
            last = finished_at(p)
    if failures == 0:
        return 0.0
    return max(last + backoff_delay(failures) - now, 0.0)


def restarts(pods: list[Task]) -> int:
    """The restarts of the containers of the Pods that run or wait (``OnFailure``'s failures)."""
    return sum(c.RestartCount for p in pods if not pod_ended(p)
               for c in [*(p.Status.InitContainers or []), *(p.Status.Containers or [])])


def past_backoff_limit_on_failure(job: Job, pods: list[Task]) -> bool:
    pod = job.Spec.Template.Spec.Pod
    if pod is None or pod.RestartPolicy != "OnFailure":
        return False
    n = restarts(pods)
    return n > 0 if job.Spec.BackoffLimit == 0 else n >= job.Spec.BackoffLimit


def format_indexes(indexes: set[int]) -> str:
    """``0-2,4``: the sorted indexes, each run of consecutive ones as ``first-last``."""
    out: list[str] = []
    items = sorted(indexes)
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        out.append(str(items[i]) if i == j else f"{items[i]}-{items[j]}")
        i = j + 1
    return ",".join(out)


def parse_indexes(text: str) -> set[int]:
    out: set[int] = set()
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def pod_index(t: Task) -> int | None:
    raw = (t.Annotations or {}).get(batch.COMPLETION_INDEX)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def condition_of(job: Job, kind: str) -> JobCondition | None:
    return next((c for c in job.Status.Conditions or [] if c.Type == kind), None)


def interim_of(job: Job) -> tuple[str, str, str] | None:
    """The end decided before (``SuccessCriteriaMet`` or ``FailureTarget`` True): (the final
    condition, reason, message)."""
    for kind, interim in INTERIM.items():
        c = condition_of(job, interim)
        if c is not None and c.Status == "True":
            return kind, c.Reason, c.Message
    return None


def is_finished(job: Job) -> str:
    """``Complete`` or ``Failed`` when the Job has that condition True, else ""."""
    for kind in ("Complete", "Failed"):
        c = condition_of(job, kind)
        if c is not None and c.Status == "True":
            return kind
    return ""


def finish_time(job: Job) -> float | None:
    """When a finished Job finished (its completion time, or its Failed condition's transition)."""
    kind = is_finished(job)
    if not kind:
        return None
    if job.Status.CompletionTime:
        return parse_ts(job.Status.CompletionTime)
    c = condition_of(job, kind)
    return parse_ts(c.LastTransitionTime) if c is not None and c.LastTransitionTime else None


def set_condition(conds: list[JobCondition] | None, new: JobCondition) -> list[JobCondition]:
    """The same status is no change (its times kept); a new one replaces the old."""
    cur = next((c for c in conds or [] if c.Type == new.Type), None)
    if cur is not None and cur.Status == new.Status:
        return list(conds or [])
    return [*(c for c in conds or [] if c.Type != new.Type), new]


def new_condition(kind: str, status: str, reason: str, message: str, now: float) -> JobCondition:
    ts = timestamp(now)
    return JobCondition(Type=kind, Status=status, LastProbeTime=ts, LastTransitionTime=ts, Reason=reason,
                        Message=message)


def batch_ref(kind: str, obj: Any) -> OwnerReference:
    """The controller reference a Job puts on its Pods, or a CronJob on its Jobs."""
    return OwnerReference(APIVersion=API_VERSION, Kind=kind, Name=obj.Name, ID=obj.ID, Controller=True,
                          BlockOwnerDeletion=True)


def new_pod(job: Job, index: int | None = None) -> Task:
    """A Pod of the Job's template, owned by it (``index``: its completion index in Indexed mode)."""
    tpl = job.Spec.Template
    base = job.Name[:MAX_GENERATED_BASE] if index is None else f"{job.Name}-{index}"[:MAX_GENERATED_BASE]
    name = f"{base}-{random_suffix()}"
    spec = clone(tpl.Spec)
    labels = dict(tpl.Labels) if tpl.Labels else {}
    annotations = dict(tpl.Annotations) if tpl.Annotations else {}
    if index is not None:
        labels[batch.COMPLETION_INDEX] = annotations[batch.COMPLETION_INDEX] = str(index)
        if not spec.Hostname:
            spec.Hostname = f"{job.Name}-{index}"[:63].rstrip("-.")
        for c in [*(spec.InitContainers or []), *spec.Containers]:
            c.Env = [*(c.Env or []), f"{batch.COMPLETION_INDEX_ENV}={index}"]
    elif not spec.Hostname:
        spec.Hostname = name[:63].rstrip("-.")
    t = Task(ID="", Name=name, GenerateName=f"{base}-", Namespace=job.Namespace, Labels=labels or None,
             Annotations=annotations or None, Spec=spec, Owner=ObjectRef())
    t.OwnerReferences = [batch_ref(KIND, job)]
    return t


# ---------------------------------------------------------------- the controller


class JobController(wl.PodOwnerController):
    name = "jobs"
    owner_type, owner_kind = Job, KIND
    workers = 2

    def on_change(self, ch: Change) -> None:
        if ch.kind == "jobs":
            self.queue.add((ch.new or ch.old).ID)
        elif ch.kind == "tasks":
            self.pod_changed(ch)

    # ------------------------------------------------------------ the sync

    async def sync(self, job_id: str) -> float | None:
        job: Job | None = self.store.get(Job, job_id)
        if job is None or job.DeletionTimestamp:
            return None
        now = self.clock()
        pods = await self.claim(job, job.Spec.Selector, batch_ref(KIND, job), not is_finished(job))
        if is_finished(job):
            return await self._finished(job, pods, now)
        active = [t for t in pods if wl.pod_active(t)]
        status = clone(job.Status)
        counted = set(status.Counted or [])
        new_succeeded = [t for t in pods if pod_ended(t) and pod_succeeded(t) and t.ID not in counted]
        new_failed = [t for t in pods if pod_ended(t) and not pod_succeeded(t) and t.ID not in counted]
        status.Succeeded += len(new_succeeded)
        status.Failed += len(new_failed)
        status.Counted = sorted(t.ID for t in pods if pod_ended(t)) or None
        indexed = job.Spec.CompletionMode == "Indexed"
        done_indexes: set[int] = set()
        if indexed:
            done_indexes = parse_indexes(status.CompletedIndexes)
            completions = job.Spec.Completions or 0
            done_indexes.update(i for t in new_succeeded if (i := pod_index(t)) is not None and i < completions)
            status.CompletedIndexes = format_indexes(done_indexes)
            status.Succeeded = len(done_indexes)
        suspended = job.Spec.Suspend
        if not suspended and not status.StartTime:
            status.StartTime = timestamp(now)
        again: list[float] = []
        finished = interim_of(job)  # a finish decided before, waiting for its Pods to stop
        if finished is None:
            if status.Failed > job.Spec.BackoffLimit or past_backoff_limit_on_failure(job, active):
                finished = ("Failed", *BACKOFF_LIMIT_EXCEEDED)
            elif (deadline := self._deadline_left(job, status, now)) is not None:
                if deadline <= 0:
                    finished = ("Failed", *DEADLINE_EXCEEDED)
                else:
                    again.append(deadline)
        if finished is None:
            if job.Spec.Completions is not None:
                complete = status.Succeeded >= job.Spec.Completions
            else:
                complete = status.Succeeded > 0 and not active
            if complete:
                finished = ("Complete", *COMPLETIONS_REACHED)
        terminating = 0
        if finished is not None:
            kind, reason, message = finished
            status.Conditions = set_condition(status.Conditions, new_condition(
                INTERIM[kind], "True", reason, message, now))
            for t in active:
                await self._delete_pod(job, t)
            active = []
            terminating = sum(1 for t in pods if (now_t := self.store.get(Task, t.ID)) is not None
                              and now_t.DeletionTimestamp and not pod_ended(now_t))
            if terminating == 0:
                if kind == "Complete":
                    status.CompletionTime = timestamp(now)
                status.Conditions = set_condition(status.Conditions, new_condition(
                    kind, "True", reason, message, now))
            else:
                finished = None  # the Pods' ends bring the key back
        elif suspended:
            for t in active:
                await self._delete_pod(job, t)
            active = []
            cur = condition_of(job, "Suspended")
            if cur is None or cur.Status != "True":
                status.Conditions = set_condition(status.Conditions, new_condition(
                    "Suspended", "True", "JobSuspended", "Job suspended", now))
                status.StartTime = ""
                await self._record(job, "Suspended", "Job suspended", now)
        else:
            cur = condition_of(job, "Suspended")
            if cur is not None and cur.Status == "True":
                status.Conditions = set_condition(status.Conditions, new_condition(
                    "Suspended", "False", "JobResumed", "Job resumed", now))
                await self._record(job, "Resumed", "Job resumed", now)
            active, wait = await self._manage(job, active, pods, status.Succeeded, done_indexes, now)
            if wait:
                again.append(wait)
        if finished is None:
            terminating = sum(1 for t in pods if t.DeletionTimestamp and not pod_ended(t))
        status.Active = len(active)
        status.Ready = sum(1 for t in active if wl.pod_ready(t))
        status.Terminating = terminating
        await self._write_status(job, status)
        if finished is not None:
            kind, reason, message = finished
            if kind == "Complete":
                await self._record(job, "Completed", "Job completed", now)
            else:
                await self._record(job, reason, message, now, "Warning")
            if job.Spec.TTLSecondsAfterFinished is not None:
                again.append(float(job.Spec.TTLSecondsAfterFinished))
        return min(again) + 0.01 if again else None

    @staticmethod
    def _deadline_left(job: Job, status: BatchJobStatus, now: float) -> float | None:
        if job.Spec.ActiveDeadlineSeconds is None or not status.StartTime or job.Spec.Suspend:
            return None
        return parse_ts(status.StartTime) + job.Spec.ActiveDeadlineSeconds - now

    async def _manage(self, job: Job, active: list[Task], pods: list[Task], succeeded: int, done: set[int],
                      now: float) -> tuple[list[Task], float]:
        """Make or delete Pods toward ``wanted_active``; the active ones after, and how long new ones
        must still wait out the back-off (0: none)."""
        want = wanted_active(job, succeeded, len(active))
        if len(active) > want:
            surplus = sorted(active, key=lambda t: (pod_index(t) or 0, parse_ts(t.CreatedAt)), reverse=True)
            for t in surplus[:len(active) - want]:
                await self._delete_pod(job, t)
            return [t for t in active if t not in surplus[:len(active) - want]], 0.0
        if len(active) == want:
            return active, 0.0
        wait = backoff_remaining(pods, now)
        if wait > 0:
            return active, wait
        indexes: list[int | None] = [None] * (want - len(active))
        if job.Spec.CompletionMode == "Indexed":
            running = {pod_index(t) for t in active}
            free = [i for i in range(job.Spec.Completions or 0) if i not in done and i not in running]
            indexes = list(free[:want - len(active)])
        made = list(active)
        for index in indexes[:BURST]:
            pod = await self._create(job, index, now)
            if pod is not None:
                made.append(pod)
        return made, 0.0

    async def _finished(self, job: Job, pods: list[Task], now: float) -> float | None:
        """A finished Job: its remaining active Pods go; its TTL, if any, deletes it."""
        for t in pods:
            if wl.pod_active(t) and is_finished(job) == "Failed":
                await self._delete_pod(job, t)
        ttl = job.Spec.TTLSecondsAfterFinished
        done = finish_time(job)
        if ttl is None or done is None:
            return None
        left = done + ttl - now
        if left > 0:
            return left + 0.01
        try:
            await self.kube.delete("jobs", job.Namespace, job.Name, uid=job.ID, propagation="Foreground")
        except NotFound:
            pass
        return None

    async def _create(self, job: Job, index: int | None, now: float) -> Task | None:
        for _ in range(3):
            pod = new_pod(job, index)
            try:
                made: Task = await self.kube.create(pod)
            except AlreadyExists:
                continue
            await self._record(job, "SuccessfulCreate", f"Created pod: {pod.Name}", now)
            return made
        return None

    async def _delete_pod(self, job: Job, t: Task) -> None:
        try:
            await self.kube.delete("tasks", t.Namespace, t.Name, uid=t.ID)
        except NotFound:
            return
        await self._record(job, "SuccessfulDelete", f"Deleted pod: {t.Name}", self.clock())

    async def _record(self, job: Job, reason: str, message: str, now: float, type_: str = "Normal") -> None:
        await wl.record(self.kube, job, KIND, COMPONENT, reason, message, now, type_, API_VERSION)

    async def _write_status(self, job: Job, status: BatchJobStatus) -> None:
        if status == job.Status:
            return
        cur: Job | None = self.store.get(Job, job.ID)
        if cur is None:
            return
        cur = msgspec.structs.replace(clone(cur), Status=status)
        await self.kube.update(cur)
