"""Placing a group of identical tasks (one service, one spec version) on nodes, as SwarmKit does.

Placement preferences (``--placement-pref spread=node.labels.dc``, several in order) make a tree:
each preference is one level, and its branches are the label's values; nodes without the label form
one more branch of their own (the value ""), so the tree's shape does not depend on which nodes carry
which labels. A branch counts the service's tasks on all of its nodes (those that fail the filters
too); the leaves hold the nodes that pass the filters. A preference that names neither
``node.labels.*`` nor ``engine.labels.*`` adds no level, as in SwarmKit.

At each level the tasks are split so that every branch ends with the same number of the service's
tasks, whatever the number of nodes in it (SwarmKit's ``scheduleNTasksOnSubtree``). Worked example:
datacenters ``a``, ``b``, ``c`` with 1, 2 and 5 nodes and 12 new replicas: (0 + 12) / 3 = 4 per
datacenter, so ``a``'s node gets 4, ``b``'s two nodes 2 each, ``c``'s five nodes 1, 1, 1, 1, 0 (ties
broken by total tasks). A branch that cannot take its share (no passing node left, resources or
``--replicas-max-per-node`` exhausted) leaves the split, and the rest is shared again among the
others: with ``--replicas-max-per-node 2`` above, ``a`` takes 2 of its 4, ``b`` and ``c`` take
4 each, and the 2 left are split again between ``b`` and ``c``; ``b`` is full, so ``c`` takes both:
a 2, b 4, c 6. Existing tasks count: with 3 already in ``a`` and 3 new, (3 + 3) / 3 = 2 per
datacenter, so ``b`` gets 2, ``c`` the last one and ``a`` none. The remainder of a split goes to the
branches visited first: SwarmKit visits them in Go's map order (random); shoal visits the fewest tasks
first, then by value, so placement (and a dry run) is repeatable. A branch is never asked for more
than is left to place at its level (SwarmKit can ask for more when existing tasks are uneven, and a
subtree may then take its siblings' share).

Within a leaf, tasks go one at a time to the passing node with the fewest tasks of the service, ties
broken by the fewest tasks in all (a heap), and a node is checked again before each use (resources,
host ports and max replicas run out). As in SwarmKit, a node where the service (at this spec version)
failed five times or more in the last five minutes comes after every other one. Before spreading, a
leaf also takes the nodes with the least penalty from the pipeline's scorers first (the
``PreferNoSchedule`` taints the task does not tolerate; 0 on every node when no node has taints).
SwarmKit's own leaf loop fills its sorted nodes in one pass that can over-fill the second node when
existing counts are uneven; this is what its comments intend.

Cost: building the tree is one pass over the nodes (times the number of preferences); a leaf then
runs the filters only on its best nodes, until it has as many that pass as the group has tasks (as
SwarmKit's bounded heaps do); each placement is a heap operation in its leaf, so a group of T tasks
over N nodes costs O(N + T log N), and a small group does not pay the filters on every node. The split at
a level is repeated only when a branch runs out of room, so each level costs O(branches) per branch
that fills up, not per task. Given the scheduler's ``NodeLoad`` (its nodes by load), a group with
no preferences, no scorer and no recent failures skips the pass over the nodes: its leaf comes from
the index in the same order (``nodeload.py``), so a group of 5 on 5,000 nodes looks at about 5.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from shoal.api.types import Node, Task
from shoal.manager.scheduler.filters import NodeInfo, Pipeline
from shoal.manager.scheduler.nodeload import NodeLoad

NODE_LABEL_PREFIX = "node.labels."
ENGINE_LABEL_PREFIX = "engine.labels."


def spread_descriptors(preferences: list[dict[str, Any]] | None) -> list[str]:
    """The spread descriptors that make a level of the tree (others are ignored, as in SwarmKit)."""
    out: list[str] = []
    for p in preferences or []:
        spread = p.get("Spread") if isinstance(p, dict) else None
        d = str((spread or {}).get("SpreadDescriptor") or "")
        low = d.lower()
        for prefix in (NODE_LABEL_PREFIX, ENGINE_LABEL_PREFIX):
            if len(d) > len(prefix) and low.startswith(prefix):
                out.append(d)
                break
    return out


def label_value(node: Node, descriptor: str) -> str:
    """The node's value for a spread descriptor; "" when it lacks the label (its own branch)."""
    if descriptor.lower().startswith(NODE_LABEL_PREFIX):
        labels = node.Spec.Labels
        name = descriptor[len(NODE_LABEL_PREFIX):]
    else:
        labels = node.Description.Engine.Labels
        name = descriptor[len(ENGINE_LABEL_PREFIX):]
    return (labels or {}).get(name, "")


@dataclass(eq=False)
class Branch:
    """A node of the decision tree: a label value, the service's tasks below it, and either the next
    level's branches or (a leaf) a heap of passing nodes keyed by (rank, service tasks, total tasks,
    ID), where rank is ``_rank`` of the recent failures of the service (when five or more) and the
    scorers' penalty."""

    value: str = ""
    tasks: int = 0
    next: dict[str, Branch] | None = None
    heap: list[tuple[int, int, int, str]] = field(default_factory=list)


# A penalty is below this, so a node where the service keeps failing still comes after every other.
PENALTY_SPAN = 1 << 16


def _rank(failures: int, penalty: int) -> int:
    """One int for the heap key (0 for most nodes, so the key costs no more than without scorers):
    failures first, then the penalty."""
    return failures * PENALTY_SPAN + min(penalty, PENALTY_SPAN - 1)


def build_tree(nodes: dict[str, NodeInfo], service_id: str, descriptors: list[str], pipeline: Pipeline,
               limit: int, spec_version: int = 0, now: float = 0.0) -> Branch:
    """The tree for a group of ``limit`` tasks: every node counts its tasks along its path; a leaf keeps
    its ``limit`` best nodes that pass the filters (no leaf can use more), so the filters run on few
    nodes when the group is small."""
    root = Branch()
    scoring = bool(pipeline.scoring)
    for ni in nodes.values():
        count = ni.tasks_by_owner.get(service_id, 0)
        b = root
        for d in descriptors:
            b.tasks += count
            if b.next is None:
                b.next = {}
            value = label_value(ni.node, d)
            nxt = b.next.get(value)
            if nxt is None:
                nxt = b.next[value] = Branch(value)
            b = nxt
        b.tasks += count
        rank = ni.failure_rank(service_id, spec_version, now) if ni.recent_failures else 0  # mostly none
        if scoring:  # only when some node has taints
            rank = _rank(rank, pipeline.penalty(ni))
        b.heap.append((rank, count, ni.active_tasks, ni.node.ID))
    _select(root, nodes, pipeline, limit)
    return root


def _select(b: Branch, nodes: dict[str, NodeInfo], pipeline: Pipeline, limit: int) -> None:
    if b.next is not None:
        for sub in b.next.values():
            _select(sub, nodes, pipeline, limit)
        return
    # Best first; a sorted list is a heap. While fewer than ``limit`` tasks have gone to a leaf, one of
    # its chosen nodes is untouched and ranks before every node left out, so none is missed.
    candidates = b.heap
    chosen: list[tuple[int, int, int, str]] = []
    heapq.heapify(candidates)
    while candidates and len(chosen) < limit:
        key = heapq.heappop(candidates)
        if pipeline.process(nodes[key[3]]):
            chosen.append(key)
    b.heap = chosen


class GroupPlacer:
    """Places ``tasks`` (identical, in order) over ``nodes``; ``place`` returns the (task, node) pairs
    in task order, after adding each task to its node. Tasks past the last pair found no node."""

    def __init__(self, nodes: dict[str, NodeInfo], pipeline: Pipeline, tasks: list[Task],
                 now: float | None = None, load: NodeLoad | None = None, failing: Collection[str] = ()) -> None:
        self.nodes = nodes
        self.pipeline = pipeline
        self.tasks = tasks
        self.load = load  # the nodes by load (the scheduler's), for a group that needs no tree
        self.failing = failing  # the nodes where some task failed lately (none: no rank to look up)
        self.placed: list[tuple[Task, NodeInfo]] = []
        first = tasks[0]
        self.service_id = first.Owner.ID
        self.spec_version = first.SpecVersion.Index if first.SpecVersion else 0
        self.now = time.time() if now is None else now
        placement = first.Spec.Placement
        self.descriptors = spread_descriptors(placement.Preferences if placement else None)

    def place(self) -> list[tuple[Task, NodeInfo]]:
        if self._flat():
            tree = Branch(heap=self._best(len(self.tasks)))
        else:
            tree = build_tree(self.nodes, self.service_id, self.descriptors, self.pipeline, len(self.tasks),
                              self.spec_version, self.now)
        self._on_subtree(tree, len(self.tasks))
        return self.placed

    def _flat(self) -> bool:
        """Whether the tree is one leaf whose keys ``NodeLoad`` gives in order: no preferences, no
        scorer, and no node where the group's tasks failed often enough to rank it last."""
        if self.load is None or self.descriptors or self.pipeline.scoring:
            return False
        for nid in self.failing:
            ni = self.nodes.get(nid)
            if ni is not None and ni.failure_rank(self.service_id, self.spec_version, self.now):
                return False
        return True

    def _best(self, limit: int) -> list[tuple[int, int, int, str]]:
        """The leaf ``build_tree`` would make, from ``load``: the ``limit`` best passing nodes, keyed
        (0, the owner's tasks, active tasks, ID), in order (a sorted list is a heap)."""
        assert self.load is not None
        chosen: list[tuple[int, int, int, str]] = []
        if limit <= 0:
            return chosen
        sid, nodes, pipeline = self.service_id, self.nodes, self.pipeline
        for active, nid in self.load.without(sid):  # the owner's tasks: 0
            ni = nodes.get(nid)
            if ni is not None and pipeline.process(ni):
                chosen.append((0, 0, active, nid))
                if len(chosen) >= limit:
                    return chosen
        held = sorted((ni.tasks_by_owner.get(sid, 0), ni.active_tasks, nid)
                      for nid in self.load.holding(sid) if (ni := nodes.get(nid)) is not None)
        for count, active, nid in held:
            if pipeline.process(nodes[nid]):
                chosen.append((0, count, active, nid))
                if len(chosen) >= limit:
                    break
        return chosen

    def _on_subtree(self, tree: Branch, n: int) -> int:
        if tree.next is None:
            return self._on_leaf(tree, n)
        scheduled = 0
        usable_tasks = tree.tasks
        branches = sorted(tree.next.values(), key=lambda b: (b.tasks, b.value))
        # Even out the branches until all tasks are placed or no branch has room left.
        while scheduled < n and branches:
            desired, remainder = divmod(usable_tasks + n - scheduled, len(branches))
            full: list[Branch] = []
            progress = scheduled
            for sub in branches:
                if sub.tasks < desired or (sub.tasks == desired and remainder > 0):
                    want = min(desired - sub.tasks + (1 if remainder > 0 else 0), n - scheduled)
                    got = self._on_subtree(sub, want) if want > 0 else 0
                    if got < want:
                        full.append(sub)
                        usable_tasks -= sub.tasks
                    elif remainder > 0:
                        remainder -= 1
                    scheduled += got
            if full:
                branches = [b for b in branches if b not in full]
            elif scheduled == progress:
                break  # nothing placed and nobody full: every branch is above its share
        return scheduled

    def _on_leaf(self, leaf: Branch, n: int) -> int:
        heap, sid, pipeline = leaf.heap, self.service_id, self.pipeline
        done = 0
        while done < n and heap and len(self.placed) < len(self.tasks):
            rank, _svc, _total, nid = heapq.heappop(heap)
            ni = self.nodes[nid]
            if not pipeline.process(ni):  # resources, ports or max replicas used up by earlier picks
                continue
            t = self.tasks[len(self.placed)]
            ni.add_task(t)
            self.placed.append((t, ni))
            heapq.heappush(heap, (rank, ni.tasks_by_owner.get(sid, 0), ni.active_tasks, nid))
            done += 1
        return done
