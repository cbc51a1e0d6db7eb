"""Jobs and CronJobs through the Kubernetes door's conversion (``convert.py``): the API server's defaults,
the generated selector, and its validation words."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.api import batch
from shoal.api.errors import Invalid
from shoal.frontdoor.kube import convert as C

CONTAINERS = [{"name": "c", "image": "busybox"}]


def job(**spec: Any) -> dict[str, Any]:
    tpl = spec.pop("template", {"spec": {"containers": CONTAINERS, "restartPolicy": "Never"}})
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"}, "spec": {"template": tpl, **spec}}


def cronjob(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {
        "spec": {"containers": CONTAINERS, "restartPolicy": "OnFailure"}}}}}
    body.update(spec)
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"}, "spec": body}


def invalid(resource: str, obj: dict[str, Any]) -> list[str]:
    with pytest.raises(Invalid) as e:
        C.to_core(resource, obj, namespace="default")
    return [f"{c.field}: {c.detail}" for c in e.value.causes]


def test_job_defaults_and_generated_selector() -> None:
    j = C.to_core("jobs", job(), namespace="default")
    assert (j.Spec.Completions, j.Spec.Parallelism, j.Spec.BackoffLimit, j.Spec.CompletionMode) == (1, 1, 6,
                                                                                                 "NonIndexed")
    assert j.ID and j.Spec.Selector.MatchLabels == {batch.CONTROLLER_UID: j.ID}
    assert j.Spec.Template.Labels == batch.generated_labels(j.ID, "pi")
    w = C.to_wire("jobs", j)
    assert w["spec"]["selector"] == {"matchLabels": {batch.CONTROLLER_UID: j.ID}}
    assert w["status"] == {}
    # a work queue: parallelism alone leaves completions unset
    q = C.to_core("jobs", job(parallelism=3), namespace="default")
    assert (q.Spec.Completions, q.Spec.Parallelism) == (None, 3)
    # an update keeps the uid it names, so the same selector
    again = C.to_core("jobs", {**w, "metadata": {**w["metadata"]}}, namespace="default")
    assert again.Spec.Selector == j.Spec.Selector


def test_manual_selector() -> None:
    assert invalid("jobs", job(manualSelector=True)) == ["spec.selector: Required value"]
    tpl = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": CONTAINERS, "restartPolicy": "Never"}}
    j = C.to_core("jobs", job(manualSelector=True, selector={"matchLabels": {"app": "x"}}, template=tpl),
                  namespace="default")
    assert j.Spec.Selector.MatchLabels == {"app": "x"} and j.Spec.Template.Labels == {"app": "x"}
    assert invalid("jobs", job(manualSelector=True, selector={"matchLabels": {"app": "y"}}, template=tpl)) == [
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"x"}: `selector` does not match '
        "template `labels`"]


def test_job_validation_words() -> None:
    always = {"spec": {"containers": CONTAINERS}}
    assert invalid("jobs", job(template=always)) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"']
    assert invalid("jobs", job(completionMode="Indexed", parallelism=2)) == [
        "spec.completions: Required value: when completion mode is Indexed"]
    assert invalid("jobs", job(completionMode="Sometimes")) == [
        'spec.completionMode: Unsupported value: "Sometimes": supported values: "NonIndexed", "Indexed"']
    assert invalid("jobs", job(backoffLimit=-1, parallelism=-2)) == [
        "spec.parallelism: Invalid value: -2: must be greater than or equal to 0",
        "spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0"]


def test_job_update_keeps_its_selector_and_template() -> None:
    cur = C.to_core("jobs", job(), namespace="default")
    new = C.to_core("jobs", job(), namespace="default")  # another uid: another selector
    with pytest.raises(Invalid) as e:
        C.validate_update("jobs", cur, new)
    assert [c.field for c in e.value.causes] == ["spec.selector", "spec.template"]


def test_cronjob_defaults() -> None:
    cj = C.to_core("cronjobs", cronjob(), namespace="default")
    s = cj.Spec
    assert (s.ConcurrencyPolicy, s.Suspend, s.SuccessfulJobsHistoryLimit, s.FailedJobsHistoryLimit) == (
        "Allow", False, 3, 1)
    assert s.TimeZone is None and s.JobTemplate.Spec.Selector.MatchLabels is None  # a Job's selector is its own
    w = C.to_wire("cronjobs", cj)
    assert w["spec"]["jobTemplate"]["metadata"] == {"creationTimestamp": None}
    assert w["status"] == {}


def test_cronjob_validation_words() -> None:
    assert invalid("cronjobs", cronjob(schedule="61 * * * *")) == [
        'spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61']
    assert invalid("cronjobs", cronjob(schedule="")) == ["spec.schedule: Required value"]
    assert invalid("cronjobs", cronjob(schedule="TZ=UTC 0 * * * *")) == [
        'spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone '
        "field instead"]
    assert invalid("cronjobs", cronjob(timeZone="Mars/Olympus")) == [
        'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus']
    assert invalid("cronjobs", cronjob(concurrencyPolicy="Sometimes")) == [
        'spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"']
    long = cronjob()
    long["metadata"]["name"] = "x" * 53
    assert invalid("cronjobs", long) == [f'metadata.name: Invalid value: "{"x" * 53}": must be no more than 52 '
                                         "characters"]
    assert C.to_core("cronjobs", cronjob(timeZone="Europe/Paris"), namespace="default").Spec.TimeZone == \
        "Europe/Paris"
