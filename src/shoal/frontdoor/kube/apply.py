"""Server-side apply and ``metadata.managedFields``: who set which field of an object.

A field is a path of tokens as ``fieldsV1`` writes them: ``f:<name>`` for a field or a map key,
``k:<json of the keys>`` for an element of a list merged by key (``containers`` by ``name``; the keys
come from the wire types' ``x-kubernetes-list-map-keys``), ``v:<json>`` for an element of a list of
scalars merged as a set, and ``.`` for a keyed element itself. Other lists are atomic: one field.

Every write records its manager: ``record_update`` gives the fields a create, update or patch changed
to its manager's ``Update`` entry (taken from the others); ``apply`` merges an applied configuration
into the object (``application/apply-patch+yaml``), refuses with 409 ``Apply failed with 1 conflict:
conflict with "kubectl-client-side-apply" using v1: .spec.containers[name="x"].image`` when it would
change a value another manager set (unless ``force``, which takes the field over), removes the fields
the manager applied before and no longer applies (unless another manager has them), and makes the
manager's ``Apply`` entry exactly the applied fields.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
from typing import Any

import msgspec
from aiohttp import web

from shoal.frontdoor.kube import status
from shoal.frontdoor.kube.replies import KubeError
from shoal.frontdoor.kube.resources import Resource

Path = tuple[str, ...]
ITEM = "."
_MISSING = object()
# Metadata the server owns, never a manager's.
_SERVER_FIELDS = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp", "managedFields",
                  "generation", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "generateName")


def default_manager(request: web.Request) -> str:
    """The manager of a write that names none: the client's program (``kubectl`` of ``kubectl/v1.32.4 …``)."""
    agent = request.headers.get("User-Agent", "")
    return agent.split("/", 1)[0].split(" ", 1)[0] or "unknown"


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- list keys from the wire types


def _unwrap(t: msgspec.inspect.Type) -> tuple[msgspec.inspect.Type, dict[str, Any]]:
    extra: dict[str, Any] = {}
    while True:
        if isinstance(t, msgspec.inspect.Metadata):
            extra.update(t.extra_json_schema or {})
            t = t.type
        elif isinstance(t, msgspec.inspect.UnionType):
            members = [m for m in t.types if not isinstance(m, msgspec.inspect.NoneType)]
            if len(members) != 1:
                return t, extra
            t = members[0]
        else:
            return t, extra


@functools.cache
def _type_info(typ: type) -> msgspec.inspect.Type:
    return msgspec.inspect.type_info(typ)


def _child(t: msgspec.inspect.Type | None, key: str) -> tuple[msgspec.inspect.Type | None, dict[str, Any]]:
    """The type (and schema markers) of field ``key`` of a struct or map type."""
    if t is None:
        return None, {}
    t, _ = _unwrap(t)
    if isinstance(t, msgspec.inspect.StructType):
        for f in t.fields:
            if f.encode_name == key:
                return _unwrap(f.type)
        return None, {}
    if isinstance(t, msgspec.inspect.DictType):
        return _unwrap(t.value_type)
    return None, {}


def _item(t: msgspec.inspect.Type | None) -> msgspec.inspect.Type | None:
    if t is None:
        return None
    t, _ = _unwrap(t)
    return _unwrap(t.item_type)[0] if isinstance(t, msgspec.inspect.ListType) else None


# ---------------------------------------------------------------- field sets


def _item_token(keys: list[str], item: dict[str, Any]) -> str:
    return "k:" + json.dumps({k: item[k] for k in keys if k in item}, separators=(",", ":"), sort_keys=True)


def fields_of(obj: dict[str, Any], resource: Resource, subresource: str = "") -> set[Path]:
    """The fields an object sets (the server's metadata and, but for the status subresource, the
    status left out)."""
    out: set[Path] = set()
    top = _type_info(resource.wire_type)
    for key, value in obj.items():
        if key in ("apiVersion", "kind") or (key == "status") != (subresource == "status"):
            continue
        t, extra = _child(top, key)
        if key == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in _SERVER_FIELDS}
            if not value:
                continue
        _walk(value, t, extra, ("f:" + key,), out)
    return out


def _walk(value: Any, t: msgspec.inspect.Type | None, extra: dict[str, Any], path: Path, out: set[Path]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            ct, cextra = _child(t, k)
            _walk(v, ct, cextra, (*path, "f:" + k), out)
        return
    if isinstance(value, list) and value:
        keys = extra.get("x-kubernetes-list-map-keys") or (
            [extra["x-kubernetes-patch-merge-key"]] if "x-kubernetes-patch-merge-key" in extra else None)
        item_t = _item(t)
        if keys and all(isinstance(i, dict) for i in value):
            for i in value:
                item_path = (*path, _item_token(keys, i))
                out.add((*item_path, ITEM))
                for k, v in i.items():
                    ct, cextra = _child(item_t, k)
                    _walk(v, ct, cextra, (*item_path, "f:" + k), out)
            return
        if extra.get("x-kubernetes-list-type") == "set" and all(not isinstance(i, dict | list) for i in value):
            for i in value:
                out.add((*path, "v:" + json.dumps(i, separators=(",", ":"))))
            return
    out.add(path)


def to_fields_v1(fields: set[Path]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in sorted(fields):
        d = root
        for tok in path:
            d = d.setdefault(tok, {})
    return root


def from_fields_v1(data: Any, path: Path = ()) -> set[Path]:
    out: set[Path] = set()
    if not isinstance(data, dict) or not data:
        if path:
            out.add(path)
        return out
    for k, v in data.items():
        out |= from_fields_v1(v, (*path, k))
    return out


def show(path: Path) -> str:
    """A field as the apiserver's messages print it: ``.spec.containers[name="x"].image``."""
    text = ""
    for tok in path:
        if tok.startswith("f:"):
            text += "." + tok[2:]
        elif tok.startswith("k:"):
            keys = json.loads(tok[2:])
            text += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]"
        elif tok.startswith("v:"):
            text += "[=" + tok[2:] + "]"
    return text


def value_at(obj: Any, path: Path) -> Any:
    """The value at a field of ``obj`` (``_MISSING`` if absent)."""
    cur = obj
    for tok in path:
        if tok == ITEM:
            continue
        if tok.startswith("f:") and isinstance(cur, dict):
            cur = cur.get(tok[2:], _MISSING)
        elif tok.startswith("k:") and isinstance(cur, list):
            keys = json.loads(tok[2:])
            cur = next((i for i in cur if isinstance(i, dict) and all(i.get(k) == v for k, v in keys.items())),
                       _MISSING)
        elif tok.startswith("v:") and isinstance(cur, list):
            v = json.loads(tok[2:])
            cur = v if v in cur else _MISSING
        else:
            return _MISSING
        if cur is _MISSING:
            return _MISSING
    return cur


def _remove(obj: Any, path: Path) -> None:
    if not path:
        return
    parent = value_at(obj, path[:-1]) if len(path) > 1 else obj
    tok = path[-1]
    if tok == ITEM:
        _remove(obj, path[:-1])
        return
    if tok.startswith("f:") and isinstance(parent, dict):
        parent.pop(tok[2:], None)
    elif tok.startswith("k:") and isinstance(parent, list):
        keys = json.loads(tok[2:])
        parent[:] = [i for i in parent if not (isinstance(i, dict) and all(i.get(k) == v for k, v in keys.items()))]
    elif tok.startswith("v:") and isinstance(parent, list):
        v = json.loads(tok[2:])
        parent[:] = [i for i in parent if i != v]


# ---------------------------------------------------------------- managed fields entries


def _entries(obj: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not obj:
        return []
    found = (obj.get("metadata") or {}).get("managedFields") or []
    return [dict(e) for e in found if isinstance(e, dict)]


def _entry(manager: str, operation: str, api_version: str, fields: set[Path], subresource: str) -> dict[str, Any]:
    e: dict[str, Any] = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now(),
                         "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(fields)}
    if subresource:
        e["subresource"] = subresource
    return e


def _same(e: dict[str, Any], manager: str, operation: str, subresource: str) -> bool:
    return (e.get("manager") == manager and e.get("operation") == operation
            and (e.get("subresource") or "") == subresource)


def _changed(new: dict[str, Any], old: dict[str, Any] | None, resource: Resource, subresource: str) -> set[Path]:
    fields = fields_of(new, resource, subresource)
    if old is None:
        return fields
    return {p for p in fields if value_at(new, p) != value_at(old, p)}


def record_update(new: dict[str, Any], old: dict[str, Any] | None, manager: str, resource: Resource,
                  subresource: str = "") -> None:
    """Write ``new``'s ``managedFields``: the fields this write changes belong to ``manager``'s
    ``Update`` entry from now on; fields it removes belong to nobody."""
    changed = _changed(new, old, resource, subresource)
    present = fields_of(new, resource, subresource)
    entries: list[dict[str, Any]] = []
    mine: set[Path] = set()
    for e in _entries(old):
        owned = from_fields_v1(e.get("fieldsV1"))
        if _same(e, manager, "Update", subresource):
            mine = owned & present
            continue
        owned = (owned - changed) & present if (e.get("subresource") or "") == subresource else owned
        if owned:
            entries.append({**e, "fieldsV1": to_fields_v1(owned)})
    mine |= changed
    if mine:
        entries.append(_entry(manager, "Update", resource.api_version, mine, subresource))
    new.setdefault("metadata", {})["managedFields"] = entries or None
    if not entries:
        new["metadata"].pop("managedFields")


def _merge(base: Any, applied: Any, t: msgspec.inspect.Type | None, extra: dict[str, Any]) -> Any:
    if isinstance(base, dict) and isinstance(applied, dict):
        out = dict(base)
        for k, v in applied.items():
            ct, cextra = _child(t, k)
            out[k] = _merge(base.get(k, _MISSING), v, ct, cextra) if k in base else copy.deepcopy(v)
        return out
    keys = extra.get("x-kubernetes-list-map-keys") or (
        [extra["x-kubernetes-patch-merge-key"]] if "x-kubernetes-patch-merge-key" in extra else None)
    if keys and isinstance(base, list) and isinstance(applied, list) and \
            all(isinstance(i, dict) for i in base + applied):
        item_t = _item(t)
        out_list = [copy.deepcopy(i) for i in base]
        for item in applied:
            token = _item_token(keys, item)
            at = next((n for n, i in enumerate(out_list) if _item_token(keys, i) == token), None)
            if at is None:
                out_list.append(copy.deepcopy(item))
            else:
                out_list[at] = _merge(out_list[at], item, item_t, {})
        return out_list
    if extra.get("x-kubernetes-list-type") == "set" and isinstance(base, list) and isinstance(applied, list):
        return list(base) + [i for i in applied if i not in base]
    return copy.deepcopy(applied)


def apply(old: dict[str, Any] | None, applied: dict[str, Any], manager: str, resource: Resource,
          force: bool = False) -> dict[str, Any]:
    """The object after ``manager`` applies ``applied`` to ``old`` (None: it does not exist yet), with
    its managed fields; KubeError 409 on conflicts with other managers unless ``force``."""
    mine = fields_of(applied, resource)
    entries = _entries(old)
    conflicts: list[tuple[Path, dict[str, Any]]] = []
    previous: set[Path] = set()
    others: list[tuple[dict[str, Any], set[Path]]] = []
    for e in entries:
        owned = from_fields_v1(e.get("fieldsV1"))
        if _same(e, manager, "Apply", ""):
            previous = owned
            continue
        others.append((e, owned))
        if e.get("subresource"):
            continue
        for p in sorted(owned & mine):
            if p[-1] != ITEM and old is not None and value_at(old, p) != value_at(applied, p):
                conflicts.append((p, e))
    if conflicts and not force:
        raise KubeError(_conflict_status(conflicts))
    taken = {p for p, _ in conflicts}
    t = _type_info(resource.wire_type)
    base = copy.deepcopy(old) if old is not None else {}
    base.get("metadata", {}).pop("managedFields", None)
    new = _merge(base, {k: v for k, v in applied.items()}, t, {})
    still_owned = set().union(*(o for _, o in others)) if others else set()
    for p in sorted(previous - mine - still_owned, key=len, reverse=True):
        _remove(new, p)
    out_entries: list[dict[str, Any]] = []
    for e, owned in others:
        owned = owned - taken if force else owned
        if owned:
            out_entries.append({**e, "fieldsV1": to_fields_v1(owned)})
    out_entries.append(_entry(manager, "Apply", resource.api_version, mine, ""))
    new.setdefault("metadata", {})["managedFields"] = out_entries
    return new


def _manager_words(e: dict[str, Any]) -> str:
    words = json.dumps(e.get("manager", ""))
    if e.get("subresource"):
        words += f' with subresource {json.dumps(e["subresource"])}'
    if e.get("operation") == "Update":
        words += f" using {e.get('apiVersion', '')}"
    return words


def _conflict_status(conflicts: list[tuple[Path, dict[str, Any]]]) -> status.Result:
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {_manager_words(e)}",
               "field": show(p)} for p, e in conflicts]
    if len(conflicts) == 1:
        p, e = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {_manager_words(e)}: {show(p)}"
    else:
        by_manager: dict[str, list[str]] = {}
        for p, e in conflicts:
            by_manager.setdefault(_manager_words(e), []).append(show(p))
        parts = [f"conflicts with {m}:" + "".join(f"\n- {p}" for p in paths) for m, paths in by_manager.items()]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(parts)
    code, body = status.status(409, "Conflict", message, {"causes": causes})
    return code, body
