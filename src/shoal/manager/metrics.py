"""The cluster's state as Prometheus metrics, collected at scrape time from a manager's ObjectStore
(its cache: no I/O): tasks and Pods by state and by node, the pending ones and the age of the oldest,
nodes by state, availability and role, the services and Deployments, the store's objects and
revision, and the dispatcher's sessions (on the leader). ``Daemon.metrics_registry`` adds it to the
process's metrics (``shoal.metrics``) on a manager.

A scrape is one pass over the tasks that only counts (a dict of counts keyed by node, state and
kind): at 100,000 tasks on 5,000 nodes it takes 40 to 65 ms (``bench/metrics_scrape.py`` measures it).
Every manager serves it from its own cache, a follower's too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from shoal.api.states import TaskState
from shoal.api.types import TYPE_OF, Deployment, Node, Service, Task, parse_ts
from shoal.manager.dispatcher import Dispatcher
from shoal.store.objects import ObjectStore

# A task waits to be scheduled in these states, while it is wanted to run (or complete: a job's).
WAITING = frozenset({TaskState.NEW, TaskState.ALLOCATED, TaskState.PENDING})
WANTED = frozenset(s for s in TaskState if not TaskState.COMPLETE < s)
KINDS = ("task", "pod")  # a task of the Docker door's services, a Pod (a task with a namespace)


class ClusterCollector(Collector):
    """The cluster's state over ``store``; ``dispatcher``: the leader's, for its sessions (None on a
    follower)."""

    def __init__(self, store: ObjectStore, dispatcher: Dispatcher | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.dispatcher, self.clock = store, dispatcher, clock

    def collect(self) -> Iterable[Metric]:
        return list(self._collect())

    def _collect(self) -> Iterator[Metric]:
        store = self.store
        counts: dict[tuple[str, str, bool], int] = {}
        get = counts.get
        pending = [0, 0]
        oldest = ["", ""]
        for t in store.list(Task):
            state = t.Status.State
            pod = t.Namespace != ""
            key = (t.NodeID, state, pod)
            counts[key] = get(key, 0) + 1
            if state in WAITING and t.DesiredState in WANTED:
                pending[pod] += 1
                created = t.CreatedAt
                if not oldest[pod] or created < oldest[pod]:  # RFC 3339 of one format: ordered as text
                    oldest[pod] = created
        tasks = GaugeMetricFamily("shoal_tasks", "Current tasks (kind task) and Pods (kind pod), by state and "
                                  "by node (the node's ID; \"\" before one is assigned).",
                                  labels=["kind", "state", "node"])
        for (node_id, st, is_pod), n in counts.items():
            tasks.add_metric([KINDS[is_pod], st, node_id], n)
        yield tasks
        waiting = GaugeMetricFamily("shoal_tasks_pending", "Tasks and Pods waiting to be scheduled, wanted to run.",
                                    labels=["kind"])
        age = GaugeMetricFamily("shoal_tasks_pending_oldest_age_seconds",
                                "How long the oldest task or Pod waiting to be scheduled has waited since it was "
                                "created (0: none waits).", labels=["kind"])
        now = self.clock()
        for i, kind in enumerate(KINDS):
            waiting.add_metric([kind], pending[i])
            age.add_metric([kind], max(0.0, now - parse_ts(oldest[i])) if oldest[i] else 0.0)
        yield waiting
        yield age
        yield self._nodes(store.list(Node))
        yield GaugeMetricFamily("shoal_services", "Services (the Docker door's).", value=store.count(Service))
        yield GaugeMetricFamily("shoal_deployments", "Deployments (the Kubernetes door's).",
                                value=store.count(Deployment))
        objects = GaugeMetricFamily("shoal_store_objects", "Objects in the cluster store, by kind.", labels=["kind"])
        for kind, typ in TYPE_OF.items():
            objects.add_metric([kind], store.count(typ))
        yield objects
        yield GaugeMetricFamily("shoal_store_revision", "The cluster store's revision, as this manager has seen it.",
                                value=store.revision)
        if self.dispatcher is not None:
            yield GaugeMetricFamily("shoal_dispatcher_sessions", "Agents' sessions with the leader's dispatcher.",
                                    value=len(self.dispatcher.sessions))

    @staticmethod
    def _nodes(nodes: list[Node]) -> Metric:
        counts: dict[tuple[str, str, str], int] = {}
        for n in nodes:
            key = (n.Status.State, n.Spec.Availability, n.Spec.Role)
            counts[key] = counts.get(key, 0) + 1
        fam = GaugeMetricFamily("shoal_nodes", "Nodes by state (ready, down, …), availability (active, pause, "
                                "drain) and role (manager, worker).", labels=["state", "availability", "role"])
        for labels, count in counts.items():
            fam.add_metric(list(labels), count)
        return fam
