"""Taints and tolerations matched as Kubernetes matches them: effect, key, operator and value one rule
at a time, the untolerated taint the scheduler reports, the PreferNoSchedule count it scores by, and
what the NoExecute eviction will read (matching tolerations, how long they allow)."""

from __future__ import annotations

import msgspec
import pytest

from shoal.api import taints
from shoal.api.taints import NO_EXECUTE, NO_SCHEDULE, PREFER_NO_SCHEDULE
from shoal.api.types import Node, NodeSpec, Placement, Taint, Toleration, decode, encode


def taint(key: str = "k", value: str = "v", effect: str = NO_SCHEDULE) -> Taint:
    return Taint(Key=key, Value=value, Effect=effect)


def tol(key: str = "", op: str = "", value: str = "", effect: str = "", seconds: int | None = None) -> Toleration:
    return Toleration(Key=key, Operator=op, Value=value, Effect=effect, TolerationSeconds=seconds)


# ---------------------------------------------------------------- one toleration, one taint


@pytest.mark.parametrize(
    ("toleration", "tainted", "tolerated"),
    [
        # Equal (also the empty operator): key, value and effect all match.
        (tol("k", "Equal", "v", NO_SCHEDULE), taint(), True),
        (tol("k", "", "v", NO_SCHEDULE), taint(), True),
        (tol("k", "Equal", "w", NO_SCHEDULE), taint(), False),  # another value
        (tol("j", "Equal", "v", NO_SCHEDULE), taint(), False),  # another key
        (tol("k", "Equal", "", NO_SCHEDULE), taint(value=""), True),  # both empty values are equal
        (tol("k", "Equal", "", NO_SCHEDULE), taint(), False),
        # Exists ignores the value.
        (tol("k", "Exists", "", NO_SCHEDULE), taint(), True),
        (tol("k", "Exists", "ignored", NO_SCHEDULE), taint(), True),
        (tol("j", "Exists", "", NO_SCHEDULE), taint(), False),
        # An effect matches only its own; an empty effect matches every effect.
        (tol("k", "Equal", "v", NO_EXECUTE), taint(), False),
        (tol("k", "Equal", "v", PREFER_NO_SCHEDULE), taint(), False),
        (tol("k", "Equal", "v", ""), taint(effect=NO_EXECUTE), True),
        (tol("k", "Exists", "", ""), taint(effect=PREFER_NO_SCHEDULE), True),
        # An empty key with Exists tolerates everything; with an effect, everything of that effect.
        (tol("", "Exists"), taint("any", "thing", NO_EXECUTE), True),
        (tol("", "Exists", effect=NO_SCHEDULE), taint("any", "thing", NO_SCHEDULE), True),
        (tol("", "Exists", effect=NO_SCHEDULE), taint("any", "thing", NO_EXECUTE), False),
        # An empty key with Equal (the API server refuses it) compares values over every key.
        (tol("", "Equal", "v"), taint("any", "v"), True),
        (tol("", "Equal", "w"), taint("any", "v"), False),
        # Keys and values are compared exactly.
        (tol("K", "Equal", "v"), taint(), False),
        (tol("k", "Equal", "V"), taint(), False),
        # An operator Kubernetes does not know tolerates nothing.
        (tol("k", "Lt", "v"), taint(), False),
        (tol("", "exists"), taint(), False),
    ],
)
def test_tolerates(toleration: Toleration, tainted: Taint, tolerated: bool) -> None:
    assert taints.tolerates(toleration, tainted) is tolerated
    assert taints.tolerated([toleration], tainted) is tolerated


def test_toleration_seconds_do_not_change_what_is_tolerated() -> None:
    assert taints.tolerates(tol("k", "Exists", effect=NO_EXECUTE, seconds=0), taint(effect=NO_EXECUTE))
    assert not taints.tolerates(tol("k", "Exists", effect=NO_SCHEDULE, seconds=60), taint(effect=NO_EXECUTE))


def test_any_of_several_tolerations_will_do() -> None:
    many = [tol("a", "Exists"), tol("k", "Equal", "v", NO_SCHEDULE)]
    assert taints.tolerated(many, taint())
    assert not taints.tolerated(many, taint("b"))
    assert not taints.tolerated([], taint())
    assert not taints.tolerated(None, taint())


# ---------------------------------------------------------------- a node's taints, a task's tolerations


def test_first_untolerated_is_the_first_noschedule_or_noexecute_taint_in_node_order() -> None:
    node = [taint("soft", effect=PREFER_NO_SCHEDULE), taint("a"), taint("b", effect=NO_EXECUTE)]
    assert taints.first_untolerated(node, None) == taint("a")
    assert taints.first_untolerated(node, [tol("a", "Exists")]) == taint("b", effect=NO_EXECUTE)
    assert taints.first_untolerated(node, [tol("a", "Exists"), tol("b", "Exists")]) is None
    # PreferNoSchedule never keeps a task off.
    assert taints.first_untolerated([taint(effect=PREFER_NO_SCHEDULE)], None) is None
    assert taints.first_untolerated(None, None) is None and taints.first_untolerated([], [tol()]) is None
    # Any set of effects can be asked for (the NoExecute controller asks for NoExecute alone).
    assert taints.first_untolerated(node, None, {NO_EXECUTE}) == taint("b", effect=NO_EXECUTE)


def test_schedulable() -> None:
    node = [taint("dedicated", "gpu"), taint("spot", "", PREFER_NO_SCHEDULE)]
    assert not taints.schedulable(node, None)
    assert not taints.schedulable(node, [tol("dedicated", "Equal", "cpu")])
    assert taints.schedulable(node, [tol("dedicated", "Equal", "gpu")])
    assert taints.schedulable(node, [tol("dedicated", "Exists", effect=NO_SCHEDULE)])
    assert taints.schedulable(node, [tol("", "Exists")])
    assert taints.schedulable(None, None) and taints.schedulable([], None)


def test_untolerated_preferences_count_only_prefer_no_schedule() -> None:
    node = [taint("a", effect=PREFER_NO_SCHEDULE), taint("b", effect=PREFER_NO_SCHEDULE), taint("c"),
            taint("d", effect=NO_EXECUTE)]
    assert taints.untolerated_preferences(node, None) == 2
    assert taints.untolerated_preferences(node, [tol("a", "Exists")]) == 1
    assert taints.untolerated_preferences(node, [tol("a", "Exists", effect=NO_SCHEDULE)]) == 2  # other effect
    assert taints.untolerated_preferences(node, [tol("", "Exists", effect=PREFER_NO_SCHEDULE)]) == 0
    assert taints.untolerated_preferences(node, [tol("", "Exists")]) == 0
    assert taints.untolerated_preferences(None, None) == 0


# ---------------------------------------------------------------- for the NoExecute controller


def test_no_execute_tolerations() -> None:
    node = [taint("a", effect=NO_EXECUTE), taint("b", effect=NO_EXECUTE), taint("c")]
    first, second = tol("a", "Exists", seconds=30), tol("", "Exists", effect=NO_EXECUTE, seconds=300)
    # For each NoExecute taint, the first toleration that tolerates it.
    assert taints.no_execute_tolerations(node, [first, second]) == [first, second]
    assert taints.no_execute_tolerations(node, [second, first]) == [second, second]
    assert taints.no_execute_tolerations(node, [first]) is None  # b is tolerated by none: evict now
    assert taints.no_execute_tolerations([taint("c")], None) == []  # no NoExecute taint
    assert taints.no_execute_tolerations(None, None) == []


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        ([], 0.0),  # nothing tolerates: no time at all
        ([None], None),  # for ever
        ([None, 60, 30], 30.0),
        ([300, -5], 0.0),  # below zero counts as zero
        ([0, None], 0.0),
    ],
)
def test_toleration_seconds(seconds: list[int | None], expected: float | None) -> None:
    assert taints.toleration_seconds([tol("k", "Exists", seconds=s) for s in seconds]) == expected


def test_describe() -> None:
    assert taints.describe(taint("dedicated", "gpu")) == "dedicated=gpu:NoSchedule"
    assert taints.describe(taint("spot", "", PREFER_NO_SCHEDULE)) == "spot:PreferNoSchedule"


# ---------------------------------------------------------------- stored shapes


def test_taints_and_tolerations_are_stored_and_read_back() -> None:
    node = Node(ID="n1", Spec=NodeSpec(Taints=[Taint(Key="k", Value="v", Effect=NO_EXECUTE,
                                                     TimeAdded="2026-12-04T10:00:00Z")]))
    assert decode(Node, encode(node)) == node
    p = Placement(Tolerations=[tol("k", "Exists", effect=NO_EXECUTE, seconds=30)])
    assert msgspec.json.decode(msgspec.json.encode(p), type=Placement) == p
    # Their zero values are left out, as Kubernetes leaves them out.
    assert msgspec.json.encode(tol("", "Exists")) == b'{"Operator":"Exists"}'
    assert msgspec.json.encode(taint("k", "", NO_SCHEDULE)) == b'{"Key":"k","Effect":"NoSchedule"}'


def test_a_node_and_a_placement_stored_before_taints_load() -> None:
    old_node = (b'{"ID":"n1","Version":{"Index":3},"CreatedAt":"c","UpdatedAt":"u","Spec":{"Name":"",'
                b'"Labels":null,"Role":"worker","Availability":"active"},"Description":{"Hostname":"h"},'
                b'"Status":{"State":"ready","Message":"","Addr":""},"ManagerStatus":null}')
    n = decode(Node, old_node)
    assert n.Spec.Taints is None and n.Spec.Role == "worker" and n.Description.Hostname == "h"
    old_placement = b'{"Constraints":["node.role==worker"],"Preferences":null,"MaxReplicas":2,"Platforms":null}'
    p = msgspec.json.decode(old_placement, type=Placement)
    assert p.Tolerations is None and p.MaxReplicas == 2


def test_the_api_servers_default_tolerations() -> None:
    from shoal.api.taints import with_default_tolerations

    got = with_default_tolerations(None)
    assert [(t.Key, t.Operator, t.Effect, t.TolerationSeconds) for t in got] == [
        ("node.kubernetes.io/not-ready", "Exists", "NoExecute", 300),
        ("node.kubernetes.io/unreachable", "Exists", "NoExecute", 300)]
    everything = Toleration(Operator="Exists")
    assert with_default_tolerations([everything]) == [everything]
