"""Generic resources (GPUs, FPGAs, …) as SwarmKit writes them: the terms a node advertises and a task
asks for, parsed and formatted.

A node advertises each kind either as a count (*discrete*, ``gpu=4``) or as a set of names (*named*,
``gpu=GPU-1a2b`` given several times); dockerd's ``--node-generic-resource`` and ``shoal daemon
--node-generic-resource`` take those terms, a service's ``--generic-resource gpu=2`` asks for counts.
The command line and the scheduler (``manager/scheduler/generic.py``: what a node has left, what a
task is given) both use these rules, so they are core.

``parse`` follows SwarmKit's ``genericresource.Parse``: a key with one integer value is discrete, a
key whose values are all non-integers is a set of names, anything else is an error in its words.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from shoal.api.types import GenericResource


class GenericResourceError(ValueError):
    pass


def discrete(kind: str, value: int) -> GenericResource:
    return GenericResource(DiscreteResourceSpec={"Kind": kind, "Value": value})


def named(kind: str, value: str) -> GenericResource:
    return GenericResource(NamedResourceSpec={"Kind": kind, "Value": value})


def _is_int(v: str) -> bool:
    try:
        int(v)
    except ValueError:
        return False
    return True


def parse(terms: Iterable[str]) -> list[GenericResource]:
    """``["gpu=UUID1", "gpu=UUID2", "fpga=2"]`` → two named gpus and a count of 2 fpgas."""
    tokens: dict[str, list[str]] = {}
    for term in terms:
        kv = term.split("=")
        if len(kv) != 2:
            raise GenericResourceError(
                f"could not parse GenericResource: incorrect term {term}, missing'=' or malformed expression")
        tokens.setdefault(kv[0].strip(), []).append(kv[1].strip())
    out: list[GenericResource] = []
    for kind, values in tokens.items():
        if len(values) == 1 and _is_int(values[0]):
            if int(values[0]) < 0:
                raise GenericResourceError(f"could not parse GenericResource: cannot ask fornegative resource {kind}")
            out.append(discrete(kind, int(values[0])))
        elif not any(_is_int(v) for v in values):
            out.extend(named(kind, v) for v in values)
        else:
            listed = " ".join(values)
            raise GenericResourceError(f"could not parse GenericResource: malformed expression '{kind}=[{listed}]'")
    return out


def is_extended(name: str) -> bool:
    """Whether a Kubernetes resource name is an extended resource (``example.com/gpu``: qualified by a
    domain, not ``kubernetes.io``'s, not a huge page size): a generic resource of that kind."""
    return "/" in name and not name.startswith("hugepages-") and "kubernetes.io/" not in name


def node_kind(kind: str, kinds: Collection[str]) -> str:
    """Which of a node's ``kinds`` serves an ask of ``kind``: the same kind, else, for a Kubernetes
    extended resource (``example.com/gpu``), the kind of its name without the domain (``gpu``, as
    ``--node-generic-resource gpu=4`` advertises it); ``kind`` itself when the node has neither."""
    if kind in kinds or "/" not in kind:
        return kind
    short = kind.rsplit("/", 1)[1]
    return short if short in kinds else kind


def kind_of(r: GenericResource) -> str:
    spec = r.DiscreteResourceSpec or r.NamedResourceSpec or {}
    return str(spec.get("Kind", ""))


def format_resource(r: GenericResource) -> str:
    spec = r.DiscreteResourceSpec or r.NamedResourceSpec or {}
    return f"{spec.get('Kind', '')}={spec.get('Value', '')}"
