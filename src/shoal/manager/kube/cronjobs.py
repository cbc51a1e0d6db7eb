"""The CronJob controller (the leader's, on a keyed work queue: key = the CronJob's ID).

Each sync reads the CronJob and the Jobs of its namespace from the store's cache and is idempotent,
as Kubernetes' ``ControllerV2.syncCronJob``:

* **active**: ``status.active`` keeps the Jobs it controls (its controller reference, also those
  ``kubectl create job --from=cronjob/x`` made) that have not finished; one that finished leaves it
  (event ``SawCompletedJob`` ``Saw completed job: <job>, status: Complete``), and a completed one
  moves ``lastSuccessfulTime``; one gone without finishing leaves it too (``MissingJob``);
* **history**: of its finished Jobs, the successful ones beyond ``successfulJobsHistoryLimit`` (3)
  and the failed ones beyond ``failedJobsHistoryLimit`` (1) are deleted, oldest first (by start
  time; event ``SuccessfulDelete`` ``Deleted job <job>``);
* **schedule**: unless suspended, the most recent scheduled time at or before now
  (``api/cron.py``, read in ``timeZone``, UTC without one) that is after ``lastScheduleTime`` (or the
  CronJob's creation) and, with ``startingDeadlineSeconds``, no older than that, gets a Job: named
  ``<cronjob>-<scheduled time in minutes since the epoch>``, with the template's labels, its
  annotations and ``batch.kubernetes.io/cronjob-scheduled-timestamp`` (the time in RFC 3339, in the
  zone), a controller reference to the CronJob and the generated selector (``api/batch.py``); event
  ``SuccessfulCreate`` ``Created job <job>``; ``lastScheduleTime`` is that time. Earlier times
  missed meanwhile are not run (Kubernetes runs only the most recent one);
* **concurrency**: ``Forbid`` skips a time while a Job is active (``JobAlreadyActive``; the time is
  tried again until the next one, as Kubernetes does), ``Replace`` deletes the active Jobs first
  (``SuccessfulDelete``), ``Allow`` runs them side by side.

The key comes back at the next scheduled time (and a Job's change wakes its CronJob).
"""

from __future__ import annotations

import datetime as _dt

import msgspec

from shoal.api import batch, cron
from shoal.api.errors import AlreadyExists, NotFound
from shoal.api.ids import new_id
from shoal.api.types import CronJob, CronJobStatus, Job, JobReference, clone, parse_ts
from shoal.manager.kube import jobs as jb
from shoal.manager.kube import workloads as wl
from shoal.manager.kube.events import timestamp
from shoal.store.objects import Change

KIND = "CronJob"
API_VERSION = "batch/v1"
COMPONENT = "cronjob-controller"
REQUEUE_SLACK = 0.1  # seconds after the next scheduled time (Kubernetes' nextScheduleDelta)


def job_name(cj: CronJob, scheduled: float) -> str:
    """``<cronjob>-<minutes since the epoch>`` (Kubernetes' ``getJobName``)."""
    return f"{cj.Name}-{int(scheduled // 60)}"


def scheduled_stamp(scheduled: float, tz: _dt.tzinfo) -> str:
    """The scheduled time in RFC 3339 in the CronJob's zone (``Z`` for UTC), as Go's RFC3339 prints it."""
    when = _dt.datetime.fromtimestamp(scheduled, tz)
    offset = when.utcoffset()
    if not offset:
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    text = when.strftime("%Y-%m-%dT%H:%M:%S%z")
    return f"{text[:-2]}:{text[-2:]}"


def most_recent_time(cj: CronJob, schedule: cron.Schedule, tz: _dt.tzinfo, now: float) -> float | None:
    """The scheduled time to run now, if any: the last at or before ``now`` that is after the last
    scheduled (or the creation) and within ``startingDeadlineSeconds``."""
    earliest = parse_ts(cj.Status.LastScheduleTime or cj.CreatedAt)
    if cj.Spec.StartingDeadlineSeconds is not None:
        earliest = max(earliest, now - cj.Spec.StartingDeadlineSeconds)
    t = schedule.last_at_or_before(now, tz)
    if t is None or t <= earliest:
        return None
    return t


def job_from_template(cj: CronJob, scheduled: float, tz: _dt.tzinfo) -> Job:
    """The Job a CronJob makes for a scheduled time (Kubernetes' ``getJobFromTemplate2``)."""
    tpl = cj.Spec.JobTemplate
    annotations = {**(tpl.Annotations or {}), batch.SCHEDULED_TIMESTAMP: scheduled_stamp(scheduled, tz)}
    job = Job(ID=new_id(), Name=job_name(cj, scheduled), Namespace=cj.Namespace,
              Labels=dict(tpl.Labels) if tpl.Labels else None, Annotations=annotations, Spec=clone(tpl.Spec))
    job.OwnerReferences = [jb.batch_ref(KIND, cj)]
    batch.generate_selector(job)
    return job


def start_time(job: Job) -> float:
    return parse_ts(job.Status.StartTime or job.CreatedAt)


def history_to_delete(jobs: list[Job], kind: str, limit: int) -> list[Job]:
    """The finished Jobs of ``kind`` (Complete or Failed) beyond ``limit``, oldest first."""
    done = sorted((j for j in jobs if jb.is_finished(j) == kind), key=start_time)
    return done[:max(len(done) - max(limit, 0), 0)]


class CronJobController(wl.WorkloadController):
    name = "cronjobs"
    workers = 1

    def seed(self) -> None:
        self._unsubscribe = self.store.subscribe(self.on_change)
        for cj in self.store.list(CronJob):
            self.queue.add(cj.ID)

    def on_change(self, ch: Change) -> None:
        if ch.kind == "cronjobs":
            self.queue.add((ch.new or ch.old).ID)
        elif ch.kind == "jobs":
            for j in (ch.old, ch.new):
                ctl = wl.controller_of(j) if j is not None else None
                if ctl is not None and ctl.Kind == KIND:
                    self.queue.add(ctl.ID)

    async def sync(self, cj_id: str) -> float | None:
        cj: CronJob | None = self.store.get(CronJob, cj_id)
        if cj is None or cj.DeletionTimestamp:
            return None
        now = self.clock()
        status = clone(cj.Status)
        owned = [j for j in self.kube.list("jobs", cj.Namespace)
                 if (c := wl.controller_of(j)) is not None and c.ID == cj.ID]
        await self._track_active(cj, status, owned, now)
        await self._clean_history(cj, owned, now)
        if cj.Spec.Suspend:
            await self._write_status(cj, status)
            return None
        try:
            schedule, tz = cron.parse(cj.Spec.Schedule), cron.zone(cj.Spec.TimeZone)
        except cron.CronError as e:
            await self._record(cj, "InvalidSchedule", f"invalid schedule: {cj.Spec.Schedule} : {e}", now, "Warning")
            await self._write_status(cj, status)
            return None
        following = schedule.next_after(now, tz)
        again = following - now + REQUEUE_SLACK if following is not None else None
        scheduled = most_recent_time(cj, schedule, tz, now)
        if scheduled is None:
            await self._write_status(cj, status)
            return again
        if cj.Spec.ConcurrencyPolicy == "Forbid" and status.Active:
            await self._record(cj, "JobAlreadyActive", "Not starting job because prior execution is running and "
                               "concurrency policy is Forbid", now)
            await self._write_status(cj, status)
            return again
        if cj.Spec.ConcurrencyPolicy == "Replace":
            for ref in list(status.Active or []):
                await self._delete_job(cj, ref.Name, ref.ID, now)
            status.Active = None
        job = job_from_template(cj, scheduled, tz)
        try:
            made: Job = await self.kube.create(job)
        except AlreadyExists:
            existing: Job = self.kube.get("jobs", cj.Namespace, job.Name)
            ctl = wl.controller_of(existing)
            if ctl is None or ctl.ID != cj.ID:
                await self._write_status(cj, status)
                return again
            made = existing
        else:
            await self._record(cj, "SuccessfulCreate", f"Created job {made.Name}", now)
        if not jb.is_finished(made) and all(r.ID != made.ID for r in status.Active or []):
            status.Active = [*(status.Active or []), JobReference(Name=made.Name, Namespace=made.Namespace,
                                                                  ID=made.ID, Version=made.Version.Index)]
        status.LastScheduleTime = timestamp(scheduled)
        await self._write_status(cj, status)
        return again

    async def _track_active(self, cj: CronJob, status: CronJobStatus, owned: list[Job], now: float) -> None:
        by_id = {j.ID: j for j in owned}
        keep: list[JobReference] = []
        for ref in status.Active or []:
            j = by_id.get(ref.ID)
            if j is None:
                await self._record(cj, "MissingJob", f"Active job went missing: {ref.Name}", now, "Warning")
                continue
            if not jb.is_finished(j):
                keep.append(ref)
        listed = {r.ID for r in keep}
        for j in owned:
            kind = jb.is_finished(j)
            if not kind and j.ID not in listed and not j.DeletionTimestamp:
                keep.append(JobReference(Name=j.Name, Namespace=j.Namespace, ID=j.ID, Version=j.Version.Index))
            was_active = any(r.ID == j.ID for r in status.Active or [])
            if kind and was_active:
                await self._record(cj, "SawCompletedJob", f"Saw completed job: {j.Name}, status: {kind}", now)
            if kind == "Complete" and j.Status.CompletionTime and \
                    parse_ts(j.Status.CompletionTime) > parse_ts(status.LastSuccessfulTime):
                status.LastSuccessfulTime = j.Status.CompletionTime
        status.Active = keep or None

    async def _clean_history(self, cj: CronJob, owned: list[Job], now: float) -> None:
        gone = [*history_to_delete(owned, "Complete", cj.Spec.SuccessfulJobsHistoryLimit),
                *history_to_delete(owned, "Failed", cj.Spec.FailedJobsHistoryLimit)]
        for j in gone:
            if not j.DeletionTimestamp:
                await self._delete_job(cj, j.Name, j.ID, now)

    async def _delete_job(self, cj: CronJob, name: str, uid: str, now: float) -> None:
        try:
            await self.kube.delete("jobs", cj.Namespace, name, uid=uid, propagation="Background")
        except NotFound:
            return
        await self._record(cj, "SuccessfulDelete", f"Deleted job {name}", now)

    async def _record(self, cj: CronJob, reason: str, message: str, now: float, type_: str = "Normal") -> None:
        await wl.record(self.kube, cj, KIND, COMPONENT, reason, message, now, type_, jb.API_VERSION)

    async def _write_status(self, cj: CronJob, status: CronJobStatus) -> None:
        if status == cj.Status:
            return
        cur: CronJob | None = self.store.get(CronJob, cj.ID)
        if cur is None:
            return
        await self.kube.update(msgspec.structs.replace(clone(cur), Status=status))
