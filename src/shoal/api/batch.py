"""The names Kubernetes gives a Job's Pods and a CronJob's Jobs (labels, annotations), and the selector
the API server generates for a Job (``generate_selector``), shared by the Kubernetes door (a Job
written by a client) and the CronJob controller (a Job it makes). Pure: core types only.

Unless ``spec.manualSelector`` is true, a Job selects its Pods by its own uid: ``spec.selector`` is
``matchLabels: {batch.kubernetes.io/controller-uid: <uid>}`` and the template's labels get
``batch.kubernetes.io/controller-uid``, ``batch.kubernetes.io/job-name`` and the legacy
``controller-uid`` and ``job-name`` (Kubernetes' ``generateSelector``).
"""

from __future__ import annotations

import msgspec

from shoal.api.types import Job, LabelSelectorSpec

CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID = "controller-uid"
LEGACY_JOB_NAME = "job-name"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
INSTANTIATE = "cronjob.kubernetes.io/instantiate"  # ``manual``: made by ``kubectl create job --from``
TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"


def generated_labels(uid: str, name: str) -> dict[str, str]:
    """The labels a Job with a generated selector puts on its Pods."""
    return {CONTROLLER_UID: uid, JOB_NAME: name, LEGACY_CONTROLLER_UID: uid, LEGACY_JOB_NAME: name}


def generate_selector(job: Job) -> None:
    """Give ``job`` (whose ``ID`` is set) the generated selector and template labels, unless its
    selector is manual; a selector it already has is kept."""
    if job.Spec.ManualSelector:
        return
    labels = {**(job.Spec.Template.Labels or {}), **generated_labels(job.ID, job.Name)}
    job.Spec.Template = msgspec.structs.replace(job.Spec.Template, Labels=labels)
    if not job.Spec.Selector.MatchLabels and not job.Spec.Selector.MatchExpressions:
        job.Spec.Selector = LabelSelectorSpec(MatchLabels={CONTROLLER_UID: job.ID})
