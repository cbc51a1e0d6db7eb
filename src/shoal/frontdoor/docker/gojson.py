"""JSON as dockerd reads and writes it: Go's ``encoding/json`` rules over the door's msgspec structs.

Decoding (``decode``): a field's name matches without regard to case (an exact match first, as Go;
of two keys naming one field the last wins), ``null`` is the field's zero value (its default here:
the key is dropped), unknown fields are ignored. The body is decoded to plain values once,
normalized in place against a plan compiled once per struct type (an object whose keys are all the
struct's own and has no null to drop is left as it is; another is copied with the keys renamed to
the struct's, the nulls of fields that cannot hold None and the unknown keys dropped), then
converted to the type.

Encoding (``to_json``, ``encode``): Go's ``omitempty``. ``KEEP`` names, per struct type, the fields
that dockerd's types declare without ``omitempty``; every other field of a type listed there is left
out when empty, with Go's meaning of empty: None (a nil pointer, slice or map), an empty list or map
(a slice or map field), and the zero value of a field that cannot be None (``0``, ``""``, ``False``;
Go's pointer fields are ``X | None`` here, so a pointer to zero is written, as Go does). A type that
is not in ``KEEP`` is written whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import msgspec
from msgspec import inspect as mi

from shoal.api import types as core

T = TypeVar("T")

# ---------------------------------------------------------------- plans


class _Field:
    __slots__ = ("keep", "name", "nullable", "object", "pointer", "scalar", "sub")

    def __init__(self, name: str, nullable: bool, sub: _Plan | None, kind: str, keep: bool, obj: bool) -> None:
        self.name = name  # the JSON (encode) name
        self.nullable = nullable  # None is a value of the field
        self.sub = sub  # the plan of the value, None for a leaf
        self.scalar = kind == "scalar"  # a non-None str/int/float/bool: its zero value is empty
        self.pointer = kind == "pointer"  # Go's pointer (a struct, ``dict[str, Any]``, ``X | None``): nil only
        self.keep = keep  # written even when empty (no omitempty in dockerd's type)
        self.object = obj  # a map dockerd always writes, ``{}`` when it has none


class _Struct:
    __slots__ = ("exact", "folded", "omits")

    def __init__(self) -> None:
        self.exact: dict[str, _Field] = {}
        self.folded: dict[str, _Field] = {}
        self.omits = False  # some field may be left out when empty


class _List:
    __slots__ = ("item",)

    def __init__(self, item: _Plan) -> None:
        self.item = item


class _Dict:
    __slots__ = ("value",)

    def __init__(self, value: _Plan) -> None:
        self.value = value


_Plan = _Struct | _List | _Dict
_plans: dict[Any, _Plan | None] = {}
_SCALARS = (mi.StrType, mi.IntType, mi.FloatType, mi.BoolType)


def _plan_of(t: mi.Type) -> tuple[_Plan | None, bool, str]:
    """The plan of a msgspec type, whether it may be None, and its kind for ``omitempty``: ``scalar``
    (cannot be None: its zero is empty), ``pointer`` (only None is empty: a struct, Go's pointer to
    a scalar, a ``dict[str, Any]``, which stands for one of dockerd's structs) or ``collection`` (a
    slice or map: None or no items is empty)."""
    nullable = False
    if isinstance(t, mi.UnionType):
        inner = [x for x in t.types if not isinstance(x, mi.NoneType)]
        nullable = len(inner) < len(t.types)
        if len(inner) != 1:
            return None, nullable, "pointer"
        t = inner[0]
    if isinstance(t, mi.StructType):
        return _struct_plan(t.cls), nullable, "pointer"
    if isinstance(t, mi.ListType | mi.VarTupleType | mi.SetType | mi.FrozenSetType):
        sub, _, _ = _plan_of(t.item_type)
        return (_List(sub) if sub is not None else None), nullable, "collection"
    if isinstance(t, mi.DictType):
        sub, _, _ = _plan_of(t.value_type)
        kind = "pointer" if isinstance(t.value_type, mi.AnyType) else "collection"
        return (_Dict(sub) if sub is not None else None), nullable, kind
    if isinstance(t, mi.AnyType | mi.NoneType):
        return None, True, "pointer"
    return None, nullable, "pointer" if nullable or not isinstance(t, _SCALARS) else "scalar"


def _struct_plan(cls: type) -> _Struct:
    plan = _plans.get(cls)
    if isinstance(plan, _Struct):
        return plan
    plan = _Struct()
    _plans[cls] = plan  # before the fields: a type may contain itself
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    keep = KEEP.get(cls)
    objects = OBJECTS.get(cls, ())
    for f in info.fields:
        sub, nullable, kind = _plan_of(f.type)
        fp = _Field(f.encode_name, nullable, sub, kind, keep is None or f.name in keep, f.name in objects)
        plan.exact[f.encode_name] = fp
        plan.folded.setdefault(f.encode_name.lower(), fp)
        plan.omits = plan.omits or not fp.keep or fp.object
    return plan


def _plan(typ: Any) -> _Plan | None:
    try:
        return _plans[typ]
    except KeyError:
        pass
    plan, _, _ = _plan_of(mi.type_info(typ))
    _plans[typ] = plan
    return plan


# ---------------------------------------------------------------- decoding


def _norm(v: Any, plan: _Plan) -> Any:
    """``v`` (fresh from the JSON decoder: changed in place) matched against ``plan``."""
    if isinstance(plan, _Struct):
        if not isinstance(v, dict):
            return v  # the conversion says what is wrong
        exact = plan.exact
        for k, x in v.items():
            f = exact.get(k)
            if f is None or (x is None and not f.nullable):
                return _rebuilt(v, plan)  # (rare: only a body with other names or nulls is copied)
            if f.sub is not None and x is not None:
                v[k] = _norm(x, f.sub)
        return v
    if isinstance(plan, _List):
        if isinstance(v, list):
            item = plan.item
            for i, x in enumerate(v):
                if x is not None:
                    v[i] = _norm(x, item)
        return v
    if isinstance(v, dict):
        value = plan.value
        for k, x in v.items():
            if x is not None:
                v[k] = _norm(x, value)
    return v


def _rebuilt(v: dict[str, Any], plan: _Struct) -> dict[str, Any]:
    """The object with its keys renamed to the fields', in the document's order: the last of two
    keys naming one field wins, as in Go; unknown keys and the nulls of fields that cannot be None
    dropped (the field keeps its zero value)."""
    out: dict[str, Any] = {}
    exact, folded = plan.exact, plan.folded
    for k, x in v.items():
        f = exact.get(k) or folded.get(k.lower())
        if f is None:
            continue  # unknown: ignored
        if x is None:
            if f.nullable:
                out[f.name] = None  # Go: a nil pointer, slice or map
            continue  # Go: no effect on any other field (a fresh struct's: its zero value)
        out[f.name] = x if f.sub is None else _norm(x, f.sub)
    return out


def normalize(data: Any, typ: Any) -> Any:
    """Plain JSON values (changed in place) with Go's field matching applied against ``typ`` (see
    the module's doc)."""
    plan = _plan(typ)
    return data if plan is None else _norm(data, plan)


def decode(raw: bytes, typ: type[T]) -> T:
    """A request body as ``typ``, read as Go's ``encoding/json`` reads it into dockerd's type."""
    data = msgspec.json.decode(raw)
    return msgspec.convert(normalize(data, typ), typ)


# ---------------------------------------------------------------- encoding


def _empty(f: _Field, x: Any) -> bool:
    if x is None:
        return True
    if f.pointer:
        return False
    return not x


def _omit(v: Any, plan: _Plan) -> Any:
    if isinstance(plan, _Struct):
        if not isinstance(v, dict):
            return v
        exact = plan.exact
        if not plan.omits:
            for k, x in v.items():
                f = exact.get(k)
                if f is not None and f.sub is not None and x is not None:
                    v[k] = _omit(x, f.sub)
            return v
        out = {}
        for k, x in v.items():
            f = exact.get(k)
            if f is None:
                out[k] = x
                continue
            if not f.keep and _empty(f, x):
                continue
            if x is None and f.object:
                out[k] = {}
                continue
            out[k] = x if f.sub is None or x is None else _omit(x, f.sub)
        return out
    if isinstance(plan, _List):
        if isinstance(v, list):
            item = plan.item
            return [_omit(x, item) for x in v]
        return v
    if isinstance(v, dict):
        value = plan.value
        return {k: _omit(x, value) for k, x in v.items()}
    return v


def to_json(obj: Any, typ: Any = None) -> Any:
    """``obj`` (a struct, or a list of them) as plain values with dockerd's ``omitempty`` applied;
    ``typ``: its type when it is not a struct (``list[wire.Task]``)."""
    data = msgspec.to_builtins(obj)
    plan = _plan(typ if typ is not None else type(obj))
    return data if plan is None else _omit(data, plan)


def omit_empty(data: Any, typ: Any) -> Any:
    """Plain values already made (``msgspec.to_builtins`` of a ``typ``) with ``omitempty`` applied."""
    plan = _plan(typ)
    return data if plan is None else _omit(data, plan)


def encode(obj: Any, typ: Any = None) -> bytes:
    return msgspec.json.encode(to_json(obj, typ))


# ---------------------------------------------------------------- dockerd's types

_ALL_OMITEMPTY: frozenset[str] = frozenset()

# Per struct type, the fields dockerd's type declares without ``omitempty`` (the rest are left out
# when empty). Filled by ``wire`` for its own types; the core's, which the door shows as they are:
KEEP: dict[Any, frozenset[str]] = {
    core.Placement: _ALL_OMITEMPTY,
    core.Platform: _ALL_OMITEMPTY,
    core.Resources: _ALL_OMITEMPTY,
    core.GenericResource: _ALL_OMITEMPTY,
    core.ResourceRequirements: _ALL_OMITEMPTY,
    core.RestartPolicy: _ALL_OMITEMPTY,
    core.Mount: _ALL_OMITEMPTY,
    core.SecretReference: frozenset({"SecretID", "SecretName"}),
    core.ConfigReference: frozenset({"ConfigID", "ConfigName"}),
    core.FileTarget: frozenset({"Name", "UID", "GID", "Mode"}),
    core.NetworkAttachmentConfig: _ALL_OMITEMPTY,
    core.ReplicatedService: _ALL_OMITEMPTY,
    core.ReplicatedJob: _ALL_OMITEMPTY,
    core.ServiceMode: _ALL_OMITEMPTY,
    core.UpdateConfig: frozenset({"Parallelism", "MaxFailureRatio", "Order"}),
    core.PortConfig: _ALL_OMITEMPTY,
    core.EndpointSpec: _ALL_OMITEMPTY,
    core.Endpoint: frozenset({"Spec"}),
    core.UpdateStatus: _ALL_OMITEMPTY,
    core.ServiceStatus: frozenset({"RunningTasks", "DesiredTasks", "CompletedTasks"}),
    # nodes
    core.Node: frozenset({"ID", "Version", "CreatedAt", "UpdatedAt", "Spec", "Description", "Status"}),
    core.NodeSpec: frozenset({"Labels"}),
    core.NodeDescription: frozenset({"Platform", "Resources", "Engine", "TLSInfo"}),
    core.EngineDescription: _ALL_OMITEMPTY,
    core.TLSInfo: _ALL_OMITEMPTY,
    core.NodeStatus: _ALL_OMITEMPTY,
    core.ManagerStatus: _ALL_OMITEMPTY,
    # the swarm
    core.ClusterSpec: frozenset({"Labels", "Orchestration", "Raft", "Dispatcher", "CAConfig", "TaskDefaults",
                                 "EncryptionConfig"}),
    core.OrchestrationConfig: _ALL_OMITEMPTY,
    core.RaftConfig: frozenset({"ElectionTick", "HeartbeatTick"}),
    core.DispatcherConfig: _ALL_OMITEMPTY,
    core.CAConfig: _ALL_OMITEMPTY,
    # networks (as a task's or a node's attachment holds them)
    core.Network: frozenset({"ID", "Version", "CreatedAt", "UpdatedAt", "Spec", "DriverState"}),
    core.NetworkSpec: frozenset({"Labels"}),
    core.Driver: _ALL_OMITEMPTY,
    core.IPAMOptions: frozenset({"Driver"}),
    core.IPAMConfig: _ALL_OMITEMPTY,
}


# Per struct type, the maps dockerd always writes as an object (``{}`` when there is none: the
# labels of an object's annotations, which SwarmKit always has).
OBJECTS: dict[Any, frozenset[str]] = {
    core.NodeSpec: frozenset({"Labels"}),
    core.ClusterSpec: frozenset({"Labels"}),
    core.NetworkSpec: frozenset({"Labels"}),
}


def keep(cls: type, fields: Iterable[str], objects: Iterable[str] = ()) -> None:
    """Declare ``cls`` as one of dockerd's types, with ``fields`` its fields without ``omitempty``
    and ``objects`` the maps it always writes (``{}`` for none)."""
    KEEP[cls] = frozenset(fields)
    if objects:
        OBJECTS[cls] = frozenset(objects)
    _plans.clear()

