"""Placement constraints: parsing with SwarmKit's error words, and matching against nodes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shoal.manager.scheduler.constraint import Constraint, ConstraintError, node_matches, parse

from ...helpers import make_node


def matches(expr: str | list[str], node_kw: dict | None = None, **kw: object) -> bool:
    exprs = [expr] if isinstance(expr, str) else expr
    return node_matches(parse(exprs), make_node(**(node_kw or {}), **kw))  # type: ignore[arg-type]


# ---------------------------------------------------------------- parse


def test_parse_both_operators_and_trims_spaces() -> None:
    assert parse(["node.role == manager", "node.labels.zone!=east"]) == [
        Constraint("node.role", True, "manager"),
        Constraint("node.labels.zone", False, "east"),
    ]
    assert parse(None) == [] and parse([]) == []


@pytest.mark.parametrize("expr", ["node.role=manager", "node.role", "node.role >= 1", "", "node.role ~ x"])
def test_parse_needs_an_operator(expr: str) -> None:
    with pytest.raises(ConstraintError) as ei:
        parse([expr])
    assert str(ei.value) == "constraint expected one operator from ==, !="


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("x y==z", "key 'x y' is invalid"),
        ("==z", "key '' is invalid"),
        ("1abc==z", "key '1abc' is invalid"),
        ("a==z", "key 'a' is invalid"),  # one character is too short for SwarmKit's key pattern
        ("node.labels.k==", "value '' is invalid"),
        ("node.labels.k==a=b", "value 'a=b' is invalid"),
        ("node.labels.k!=a<b", "value 'a<b' is invalid"),
        ("node.labels.k==a,b", "value 'a,b' is invalid"),
    ],
)
def test_parse_errors_in_swarmkits_words(expr: str, message: str) -> None:
    with pytest.raises(ConstraintError) as ei:
        parse([expr])
    assert str(ei.value) == message


def test_parse_rejects_the_whole_list_on_one_bad_entry() -> None:
    with pytest.raises(ConstraintError):
        parse(["node.role==manager", "bogus"])


def test_values_may_hold_swarmkits_special_characters() -> None:
    (c,) = parse(["node.labels.path==/srv/data_1:rw (a|b)*?+[x]^$"])
    assert c.value == "/srv/data_1:rw (a|b)*?+[x]^$"


# ---------------------------------------------------------------- match


def test_node_id_and_hostname() -> None:
    n = make_node("Worker-1", node_id="abc123")
    assert node_matches(parse(["node.id==abc123"]), n)
    assert not node_matches(parse(["node.id!=abc123"]), n)
    assert not node_matches(parse(["node.id==abc"]), n)  # whole value, not a prefix
    assert node_matches(parse(["node.hostname==worker-1"]), n)  # case-insensitive
    assert not node_matches(parse(["node.hostname!=WORKER-1"]), n)
    assert node_matches(parse(["node.hostname!=other"]), n)


def test_role() -> None:
    assert matches("node.role==manager", role="manager")
    assert not matches("node.role==manager", role="worker")
    assert matches("node.role!=manager", role="worker")
    assert matches("node.role==Worker", role="worker")


def test_platform_os_and_arch() -> None:
    assert matches("node.platform.os==linux")
    assert matches("node.platform.os==LINUX")
    assert not matches("node.platform.os==windows")
    assert matches("node.platform.os!=windows")
    # A node that reports x86_64 satisfies amd64 and x86_64 alike (and aarch64 satisfies arm64).
    assert matches("node.platform.arch==amd64", arch="x86_64")
    assert matches("node.platform.arch==x86_64", arch="x86_64")
    assert not matches("node.platform.arch!=amd64", arch="x86_64")
    assert matches("node.platform.arch==arm64", arch="aarch64")
    assert not matches("node.platform.arch==amd64", arch="aarch64")
    # Unknown platform: == fails, != holds.
    assert not matches("node.platform.os==linux", os="")
    assert matches("node.platform.os!=linux", os="")
    assert not matches("node.platform.arch==amd64", arch="")
    assert matches("node.platform.arch!=amd64", arch="")


def test_node_labels() -> None:
    labels = {"zone": "East", "ssd": "true"}
    assert matches("node.labels.zone==east", labels=labels)
    assert matches("node.labels.zone==EAST", labels=labels)
    assert not matches("node.labels.zone!=east", labels=labels)
    assert matches("node.labels.zone!=west", labels=labels)
    assert not matches("node.labels.zone==west", labels=labels)
    # A missing label: == is false, != is true; with no labels at all just the same.
    assert not matches("node.labels.gpu==true", labels=labels)
    assert matches("node.labels.gpu!=true", labels=labels)
    assert not matches("node.labels.gpu==true", labels=None)
    assert matches("node.labels.gpu!=true", labels=None)
    # Label names are case-sensitive (only values fold case).
    assert not matches("node.labels.ZONE==east", labels=labels)
    # Engine labels are a different set.
    assert not matches("engine.labels.zone==east", labels=labels)


def test_engine_labels() -> None:
    el = {"storage": "ssd"}
    assert matches("engine.labels.storage==SSD", engine_labels=el)
    assert not matches("engine.labels.storage!=ssd", engine_labels=el)
    assert not matches("engine.labels.missing==x", engine_labels=el)
    assert matches("engine.labels.missing!=x", engine_labels=el)
    assert not matches("node.labels.storage==ssd", engine_labels=el)


def test_keys_fold_case_and_unknown_keys_match_nothing() -> None:
    assert matches("NODE.ROLE==worker")
    assert matches("Node.Labels.zone==a", labels={"zone": "a"})
    assert not matches("node.ip==10.0.0.1")
    assert not matches("node.unknown!=x")


def test_all_constraints_must_hold() -> None:
    kw = {"role": "worker", "labels": {"zone": "east"}}
    assert matches(["node.role==worker", "node.labels.zone==east"], kw)
    assert not matches(["node.role==worker", "node.labels.zone==west"], kw)
    assert not matches(["node.role==manager", "node.labels.zone==east"], kw)


label_text = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", min_size=1,
                     max_size=8)


@given(value=label_text, other=label_text, present=st.booleans())
def test_not_equal_is_the_negation_of_equal(value: str, other: str, present: bool) -> None:
    node = make_node(labels={"k": other} if present else None)
    eq = node_matches(parse([f"node.labels.k=={value}"]), node)
    ne = node_matches(parse([f"node.labels.k!={value}"]), node)
    assert eq != ne
    assert eq == (present and value.lower() == other.lower())
