"""The process's Prometheus metrics (issue 17): every metric shoal records, defined once, with
Prometheus' naming conventions (``shoal_`` prefix, base units: seconds and bytes, ``_total``
counters), in prometheus_client's default registry. Any layer records into them (this module is the
bottom of the import contracts: it imports only prometheus_client and the standard library);
``/metrics`` (frontdoor/ui) exposes ``Daemon.metrics_registry()``: these, and the collectors that
read state at scrape time (a manager's cluster state, ``manager/metrics.py``; a node's tunnels,
``network/metrics.py``). ``docs/design/metrics.md`` lists them all and where each is recorded.

Recording is cheap: label values that are known in advance are bound once here (``.labels()`` is a
dict lookup under a lock; the children below skip it), and the few label sets that are not (API
routes) are cached by ``Requests`` after their first use. Nothing here holds a lock longer than an
increment.

The metrics are the process's: several in-process daemons (tests, ``shoal sim``) share them, as
they share the process.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

# Buckets: the library's defaults (5 ms to 10 s) suit requests and commits; heartbeats and
# scheduling can be late or slow by minutes.
FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SLOW = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

# ---------------------------------------------------------------- manager: scheduler

SCHEDULING_LATENCY = Histogram(
    "shoal_scheduler_scheduling_latency_seconds",
    "Time from a task's (or Pod's) creation to its assignment to a node.", buckets=SLOW)
SCHEDULING_DECISIONS = Counter(
    "shoal_scheduler_decisions_total",
    "The scheduler's decisions on pending tasks and Pods: placed on a node, or unschedulable (each attempt).",
    ["result"])
PLACED = SCHEDULING_DECISIONS.labels("placed")
UNSCHEDULABLE = SCHEDULING_DECISIONS.labels("unschedulable")


def scheduled(created: float, now: float) -> None:
    """A task created at ``created`` (epoch seconds) was assigned to a node at ``now``."""
    PLACED.inc()
    if created > 0:
        SCHEDULING_LATENCY.observe(max(0.0, now - created))


# ---------------------------------------------------------------- manager: store

STORE_COMMIT_LATENCY = Histogram(
    "shoal_store_commit_duration_seconds",
    "Time a commit of the object store spent in its backend's transaction.", buckets=FAST)
STORE_COMMITS = Counter(
    "shoal_store_commits_total",
    "Commits of the object store, by result: ok, or conflict (a compare failed: out of sequence or taken).",
    ["result"])
COMMIT_OK = STORE_COMMITS.labels("ok")
COMMIT_CONFLICT = STORE_COMMITS.labels("conflict")
COMMIT_ERROR = STORE_COMMITS.labels("error")
STORE_COMPACTIONS = Counter(
    "shoal_store_compactions_total",
    "Compactions of the store's history, by backend (sqlite, memory, etcd).", ["backend"])


def compacted(backend: str) -> None:
    STORE_COMPACTIONS.labels(backend).inc()


@contextmanager
def timed(duration: Histogram, ok: Counter, failed: Callable[[BaseException], Counter | None]) -> Iterator[None]:
    """Around some work: its duration in ``duration``, and its result counted in ``ok``, or in the
    counter ``failed`` gives for the exception (None: neither timed nor counted)."""
    start = time.perf_counter()
    try:
        yield
    except BaseException as e:
        counter = failed(e)
        if counter is not None:
            duration.observe(time.perf_counter() - start)
            counter.inc()
        raise
    duration.observe(time.perf_counter() - start)
    ok.inc()


def commit_timer(conflict: type[Exception]) -> contextlib.AbstractContextManager[None]:
    """Around a backend transaction: its duration, and its result (``conflict``: the backend's error
    for a compare that failed)."""
    return timed(STORE_COMMIT_LATENCY, COMMIT_OK,
                 lambda e: COMMIT_CONFLICT if isinstance(e, conflict) else COMMIT_ERROR if isinstance(e, Exception)
                 else None)


# ---------------------------------------------------------------- manager: quorum (etcd)

ETCD_MEMBER_HEALTHY = Gauge(
    "shoal_etcd_member_healthy",
    "1 when this manager's last quorum tick reached the etcd quorum (its lease kept, the leader read), else 0.",
    ["member"])
ETCD_LEADER_CHANGES = Counter(
    "shoal_etcd_leader_changes_seen_total",
    "Changes of the managers' leader this manager has seen (a new leader, or none).")

# ---------------------------------------------------------------- manager: dispatcher

HEARTBEAT_LATENESS = Histogram(
    "shoal_dispatcher_heartbeat_lateness_seconds",
    "How much later than its period a node's heartbeat reached the dispatcher (0: on time).",
    buckets=(0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0))


def heartbeat(last: float, now: float, period: float) -> None:
    HEARTBEAT_LATENESS.observe(max(0.0, now - last - period))


# ---------------------------------------------------------------- the API front doors


class Requests:
    """Request count and latency of one front door, with the label children cached per label set
    (a door has a few dozen routes, methods and codes: a bounded cache)."""

    def __init__(self, count: Counter, latency: Histogram) -> None:
        self.count, self.latency = count, latency
        self._counters: dict[tuple[str, ...], Any] = {}
        self._timers: dict[tuple[str, ...], Any] = {}

    def observe(self, labels: tuple[str, ...], code: int, seconds: float | None) -> None:
        """One request with ``labels`` (the door's, without the code) answered ``code`` after ``seconds``
        (None: not timed, a long-running request such as a watch)."""
        key = (*labels, str(code))
        c = self._counters.get(key)
        if c is None:
            c = self._counters[key] = self.count.labels(*key)
        c.inc()
        if seconds is not None:
            h = self._timers.get(labels)
            if h is None:
                h = self._timers[labels] = self.latency.labels(*labels)
            h.observe(seconds)


DOCKER_REQUESTS = Requests(
    Counter("shoal_docker_api_requests_total",
            "Requests to the Docker Engine API door, by route template (without the version prefix), "
            "method and status code.", ["route", "method", "code"]),
    Histogram("shoal_docker_api_request_duration_seconds",
              "Time to answer a request of the Docker Engine API door (a streamed answer: until its end).",
              ["route", "method"], buckets=FAST))
KUBE_REQUESTS = Requests(
    Counter("shoal_kube_apiserver_requests_total",
            "Requests to the Kubernetes API door, by verb (as kube-apiserver's: GET, LIST, WATCH, POST, PUT, "
            "PATCH, APPLY, DELETE, DELETECOLLECTION, CONNECT), resource, subresource and status code.",
            ["verb", "resource", "subresource", "code"]),
    Histogram("shoal_kube_apiserver_request_duration_seconds",
              "Time to answer a request of the Kubernetes API door (not WATCH nor CONNECT: long-running).",
              ["verb", "resource", "subresource"], buckets=FAST))

# ---------------------------------------------------------------- every node: containers

CONTAINER_START_LATENCY = Histogram(
    "shoal_runtime_container_start_duration_seconds",
    "Time the node's runtime took to start a task's container (a Pod's: each container, each restart).",
    buckets=FAST)
CONTAINERS_RUNNING = Gauge(
    "shoal_runtime_containers_running",
    "Containers of tasks and Pods started by this process's agents and not exited yet.")


def container_started(seconds: float) -> None:
    CONTAINER_START_LATENCY.observe(seconds)
    CONTAINERS_RUNNING.inc()


def container_exited(_: object = None) -> None:
    """A started container exited (a done callback of its exit future)."""
    CONTAINERS_RUNNING.dec()


PROBE_KINDS = ("liveness", "readiness", "startup", "healthcheck")
PROBE_RESULTS = ("success", "failure", "unknown", "warning")
PROBES = Counter(
    "shoal_agent_probe_results_total",
    "Results of containers' probes: the kubelet's liveness, readiness and startup probes, Docker's "
    "healthchecks; result success, failure, unknown (errored) or warning (a success with a warning).",
    ["kind", "result"])
_PROBES = {(k, r): PROBES.labels(k, r) for k in PROBE_KINDS for r in PROBE_RESULTS}


HEALTHCHECK_PASSED, HEALTHCHECK_FAILED = _PROBES[("healthcheck", "success")], _PROBES[("healthcheck", "failure")]


def probed(kind: str, result: str) -> None:
    """One probe's result; ``kind`` in any case (the kubelet's ``Liveness``)."""
    child = _PROBES.get((kind.lower(), result))
    if child is not None:
        child.inc()


# ---------------------------------------------------------------- every node: images

IMAGE_PULLS = Counter(
    "shoal_image_pulls_total", "Image pulls from registries, by result: success, failure or cancelled.",
    ["result"])
IMAGE_PULL_DURATION = Histogram(
    "shoal_image_pull_duration_seconds", "Time an image pull took, whatever its result.", buckets=SLOW)
_PULLED, _PULL_FAILED, _PULL_CANCELLED = (IMAGE_PULLS.labels(r) for r in ("success", "failure", "cancelled"))


def pull_timer() -> contextlib.AbstractContextManager[None]:
    """Around an image pull: its duration, and its result (success, failure, cancelled)."""
    return timed(IMAGE_PULL_DURATION, _PULLED, lambda e: _PULL_FAILED if isinstance(e, Exception) else _PULL_CANCELLED)


# ---------------------------------------------------------------- a daemon's registry


class Chain(Collector):
    """The default registry's metrics, then those of the collectors ``extra()`` gives at scrape time
    (a daemon's own: its manager's cluster state, its node's tunnels)."""

    def __init__(self, extra: Callable[[], Iterable[Collector]]) -> None:
        self.extra = extra

    def collect(self) -> Iterable[Metric]:
        yield from REGISTRY.collect()
        for c in self.extra():
            yield from c.collect()


def node_registry(extra: Callable[[], Iterable[Collector]]) -> CollectorRegistry:
    """A registry of the process's metrics and ``extra()``'s (one per daemon: tests run several)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(Chain(extra))
    return reg
