"""Node taints and task tolerations: which toleration tolerates which taint, as Kubernetes defines it.

Pure functions over the core's ``Taint`` (on ``NodeSpec.Taints``) and ``Toleration`` (on
``Placement.Tolerations``), shared by the scheduler (the taint filter and the PreferNoSchedule score)
and, later, the node lifecycle controller that evicts on ``NoExecute`` taints. The rules are
Kubernetes' (``Toleration.ToleratesTaint`` in k8s.io/api/core/v1 and the scheduler's TaintToleration
plugin):

- a toleration with an ``Effect`` matches only taints of that effect; an empty effect matches all;
- a toleration with a ``Key`` matches only taints of that key; an empty key matches every key (the
  API server accepts an empty key only with ``Exists``: "tolerate everything");
- ``Equal`` (also an empty operator) then compares the values, ``Exists`` ignores them; any other
  operator tolerates nothing.

Swarm has no taints: a Swarm node has none and a Swarm task no tolerations, so none of this ever
turns a Swarm task away.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from shoal.api.types import Taint, Toleration

NO_SCHEDULE = "NoSchedule"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
NO_EXECUTE = "NoExecute"
EFFECTS = (NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE)

EQUAL = "Equal"
EXISTS = "Exists"
OPERATORS = (EQUAL, EXISTS)

# The effects that keep a task off a node (kube-scheduler's ``DoNotScheduleTaintsFilterFunc``).
DO_NOT_SCHEDULE: frozenset[str] = frozenset((NO_SCHEDULE, NO_EXECUTE))


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """Whether ``toleration`` tolerates ``taint`` (Kubernetes' ``ToleratesTaint``)."""
    if toleration.Effect and toleration.Effect != taint.Effect:
        return False
    if toleration.Key and toleration.Key != taint.Key:
        return False
    op = toleration.Operator
    if op == EXISTS:
        return True
    if op in ("", EQUAL):
        return toleration.Value == taint.Value
    return False


def tolerated(tolerations: Iterable[Toleration] | None, taint: Taint) -> bool:
    """Whether any of ``tolerations`` tolerates ``taint``."""
    return any(tolerates(t, taint) for t in tolerations or ())


def first_untolerated(taints: Iterable[Taint] | None, tolerations: Sequence[Toleration] | None,
                      effects: Collection[str] = DO_NOT_SCHEDULE) -> Taint | None:
    """The first of ``taints`` with one of ``effects`` that no toleration tolerates, or None
    (Kubernetes' ``FindMatchingUntoleratedTaint``; by default the taints that keep a task off)."""
    for taint in taints or ():
        if taint.Effect in effects and not tolerated(tolerations, taint):
            return taint
    return None


def schedulable(taints: Iterable[Taint] | None, tolerations: Sequence[Toleration] | None) -> bool:
    """Whether a task with ``tolerations`` may be placed on a node with ``taints``: every
    ``NoSchedule`` and ``NoExecute`` taint is tolerated (``PreferNoSchedule`` never forbids)."""
    return first_untolerated(taints, tolerations) is None


def untolerated_preferences(taints: Iterable[Taint] | None, tolerations: Sequence[Toleration] | None) -> int:
    """How many ``PreferNoSchedule`` taints no toleration tolerates: the scheduler prefers nodes with
    fewer (kube-scheduler's TaintToleration score counts the same)."""
    return sum(1 for taint in taints or ()
               if taint.Effect == PREFER_NO_SCHEDULE and not tolerated(tolerations, taint))


def no_execute_tolerations(taints: Iterable[Taint] | None,
                           tolerations: Sequence[Toleration] | None) -> list[Toleration] | None:
    """For eviction: for each of the node's ``NoExecute`` taints, the first toleration that tolerates
    it (Kubernetes' ``GetMatchingTolerations``), or None when one of those taints is tolerated by none
    (the task must go now). An empty list: the node has no such taint."""
    out: list[Toleration] = []
    for taint in taints or ():
        if taint.Effect != NO_EXECUTE:
            continue
        match = next((t for t in tolerations or () if tolerates(t, taint)), None)
        if match is None:
            return None
        out.append(match)
    return out


def toleration_seconds(tolerations: Iterable[Toleration]) -> float | None:
    """How long a task may stay on a node whose ``NoExecute`` taints these tolerate (Kubernetes'
    ``getMinTolerationTime``): the shortest ``TolerationSeconds`` (below zero counts as zero), None
    (for ever) when none sets it, 0 when there are no tolerations at all."""
    tolerations = list(tolerations)
    if not tolerations:
        return 0.0
    seconds = [max(t.TolerationSeconds, 0) for t in tolerations if t.TolerationSeconds is not None]
    return float(min(seconds)) if seconds else None


# The API server's DefaultTolerationSeconds admission plugin: every Pod tolerates a node not ready or
# unreachable for this long (unless it already tolerates those taints).
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
DEFAULT_TOLERATION_SECONDS = 300


def with_default_tolerations(tolerations: Sequence[Toleration] | None) -> list[Toleration]:
    """``tolerations`` and the two the API server adds to every Pod (``not-ready`` and
    ``unreachable``, ``NoExecute``, 300 s) where they do not already tolerate those taints."""
    out = list(tolerations or ())
    for key in (NOT_READY_TAINT, UNREACHABLE_TAINT):
        if not tolerated(out, Taint(Key=key, Effect=NO_EXECUTE)):
            out.append(Toleration(Key=key, Operator=EXISTS, Effect=NO_EXECUTE,
                                  TolerationSeconds=DEFAULT_TOLERATION_SECONDS))
    return out


def describe(taint: Taint) -> str:
    """A taint as kubectl shows it: ``key=value:Effect`` (``key:Effect`` without a value)."""
    return f"{taint.Key}={taint.Value}:{taint.Effect}" if taint.Value else f"{taint.Key}:{taint.Effect}"
