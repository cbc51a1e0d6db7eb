"""The PATCH kinds of the Kubernetes API server, applied to JSON-like values (dict, list, str, int,
float, bool, None) as the API server applies them.

- :func:`merge_patch` — ``application/merge-patch+json`` (RFC 7386: ``null`` deletes a key, objects
  merge, anything else replaces). kubectl's ``label``, ``annotate`` and ``scale`` send it.
- :func:`json_patch` — ``application/json-patch+json`` (RFC 6902, through the ``jsonpatch``
  package). kubectl's ``rollout undo`` sends it.
- :func:`strategic_merge_patch` — ``application/strategic-merge-patch+json``, the rules of
  k8s.io/apimachinery/pkg/util/strategicpatch driven by a :class:`PatchMeta` that says, field by
  field, how lists merge. kubectl's ``apply``, ``edit``, ``cordon``, ``taint`` and ``rollout restart``
  send it.

Strategic merge patch, in short:

- Maps merge key by key; ``null`` deletes a key. A field whose strategy is ``replace`` is replaced
  whole; ``retainKeys`` (with the ``$retainKeys`` list in the patch) drops the keys not listed.
- A list whose strategy is ``merge`` merges: items of maps pair up by the field's ``patchMergeKey``
  (a patch item merges into the live item with the same key, a new one is added), primitives are a
  union. Any other list (no strategy, e.g. tolerations and taints) is replaced by the patch's.
- Order: the items the patch names come in the patch's order; the live items it does not name keep
  their live order and are woven in among them by live position (one goes before a named item that
  stands after it in the live list). A new item has no live position: it goes before the live items
  still to place, so a container added without ``$setElementOrder`` comes first, as on the API
  server. A ``$setElementOrder/<list>`` directive (kubectl ``apply`` sends one for every merged list
  it touches) gives the order of the items it names instead, and must list the patch's items in
  the patch's order.
- Directives: ``$patch: replace`` (a map replaced by the rest of the patch's map; in a list, the
  list replaced by the patch's other items), ``$patch: delete`` (a map emptied; in a list, the live
  items with that merge key removed), ``$deleteFromPrimitiveList/<list>`` (those values removed from
  a list of primitives), ``$retainKeys`` and ``$setElementOrder/<list>``. ``$patch: merge`` is
  refused, as the API server refuses it. No directive key is left in the result.

Values the patch adds whole are cleaned as the API server's typed decoding cleans them (no ``null``
and no directive keys left inside). Failures raise :class:`PatchError` with the API server's text
and the HTTP status it answers with (400 for a malformed patch, 422 for a JSON patch that does not
apply, 500 for the strategic merge patch errors the API server reports as internal errors).
Inputs are never modified.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import jsonpatch

JSON = Any
"""A JSON-like value: dict, list, str, int, float, bool or None."""

_DIRECTIVE = "$patch"
_DELETE = "delete"
_REPLACE = "replace"
_MERGE = "merge"
_RETAIN_KEYS = "retainKeys"
_RETAIN_KEYS_DIRECTIVE = "$retainKeys"
_DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"
_SET_ELEMENT_ORDER = "$setElementOrder"

MAX_JSON_PATCH_OPERATIONS = 10000


class PatchError(ValueError):
    """A patch that cannot be applied; ``code`` is the HTTP status the API server answers with."""

    def __init__(self, message: str, code: int = 500) -> None:
        super().__init__(message)
        self.code = code


# The strategic merge patch errors of k8s.io/apimachinery/pkg/util/mergepatch, and the statuses the
# API server's PATCH handler gives them (``interpretStrategicMergePatchError``).
def _bad_json_doc() -> PatchError:
    return PatchError("invalid JSON document", 400)


def _no_list_of_lists() -> PatchError:
    return PatchError("lists of lists are not supported", 422)


def _bad_primitive_list() -> PatchError:
    return PatchError("invalid patch format of primitive list", 400)


def _bad_retain_keys() -> PatchError:
    return PatchError("invalid patch format of retainKeys", 400)


def _bad_set_element_order() -> PatchError:
    return PatchError("invalid patch format of setElementOrder list", 400)


# ---------------------------------------------------------------- RFC 7386 and RFC 6902


def merge_patch(target: JSON, patch: JSON) -> JSON:
    """``target`` with the JSON merge patch ``patch`` applied (RFC 7386): an object patch merges
    key by key (``null`` deletes the key), any other patch value replaces the target."""
    return _merge_into(copy.deepcopy(target), patch)


def _merge_into(target: JSON, patch: JSON) -> JSON:
    """``patch`` merged into ``target``, which is owned and modified in place."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge_into(target.get(key), value)
    return target


def json_patch(doc: JSON, ops: JSON) -> JSON:
    """``doc`` with the JSON patch ``ops`` (a list of RFC 6902 operations) applied.

    A body that is not a list of operation objects is a 400; more than
    :data:`MAX_JSON_PATCH_OPERATIONS` operations a 413; an operation that fails (a failed ``test``,
    a missing path) a 422, as the API server answers, with the ``jsonpatch`` package's detail."""
    if ops is None:
        return copy.deepcopy(doc)
    if not isinstance(ops, list):
        raise PatchError(f"json: cannot unmarshal {_json_kind(ops)} into Go value of type jsonpatch.Patch", 400)
    for op in ops:
        if op is None:
            raise PatchError("Unexpected kind: unknown", 422)
        if not isinstance(op, dict):
            raise PatchError(f"json: cannot unmarshal {_json_kind(op)} into Go value of type jsonpatch.Operation", 400)
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise PatchError(
            f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}", 413
        )
    try:
        patch = jsonpatch.JsonPatch(copy.deepcopy(ops))
        return patch.apply(doc, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as err:
        raise PatchError(str(err), 422) from None
    except (TypeError, KeyError, IndexError, ValueError) as err:  # a malformed operation deep in the package
        raise PatchError(f"invalid JSON patch operation: {err}", 422) from None


def _json_kind(value: JSON) -> str:
    """How Go's JSON decoder names the kind of a value it cannot decode."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    return "number"


# ---------------------------------------------------------------- patch metadata


class PatchMeta:
    """How a position of a document merges: for the field it sits in, its ``merge_key`` (the
    ``patchMergeKey``) and ``strategy`` (``""``, ``"merge"``, ``"replace"``, ``"retainKeys"`` or
    ``"merge,retainKeys"``); :meth:`child` is the meta of one of its fields, :meth:`items` the meta
    of its list's items. Unknown fields get an empty meta: lists there are replaced.

    Built by hand (``PatchMeta(fields={"containers": PatchMeta("name", "merge", items=...)})``;
    ``values`` is the meta of every key of a map, such as ``labels``) or from an OpenAPI document
    with :meth:`from_openapi`."""

    __slots__ = ("_fields", "_items", "_values", "merge_key", "name", "strategy")

    def __init__(
        self,
        merge_key: str | None = None,
        strategy: str = "",
        *,
        fields: Mapping[str, PatchMeta] | None = None,
        items: PatchMeta | None = None,
        values: PatchMeta | None = None,
        name: str = "struct",
    ) -> None:
        self.merge_key = merge_key
        self.strategy = strategy
        self.name = name
        self._fields = dict(fields or {})
        self._items = items
        self._values = values

    def child(self, field: str) -> PatchMeta:
        """The meta of ``field`` (with that field's merge key and strategy)."""
        found = self._fields.get(field)
        if found is not None:
            return found
        return self._values if self._values is not None else _EMPTY

    def items(self) -> PatchMeta:
        """The meta of the items of the list at this position."""
        return self._items if self._items is not None else _EMPTY

    def __repr__(self) -> str:
        return f"PatchMeta(merge_key={self.merge_key!r}, strategy={self.strategy!r}, name={self.name!r})"

    @classmethod
    def from_openapi(cls, components: Mapping[str, Mapping[str, Any]], schema_name: str) -> PatchMeta:
        """The meta of schema ``schema_name`` of an OpenAPI v3 ``components.schemas`` dict.

        Follows ``$ref`` (``#/components/schemas/<name>``) and ``allOf``, ``properties``, ``items``
        and ``additionalProperties``; a property's ``x-kubernetes-patch-merge-key`` and
        ``x-kubernetes-patch-strategy`` give its field's merge key and strategy. Children are read
        on first use, so recursive schemas are fine."""
        return _OpenAPIMeta(_Schemas(components), {"$ref": _REF_PREFIX + schema_name}, None, "")


_EMPTY = PatchMeta()
_REF_PREFIX = "#/components/schemas/"


class _Schemas:
    """The ``components.schemas`` of an OpenAPI document, with ``$ref``/``allOf`` resolved once per
    schema."""

    def __init__(self, components: Mapping[str, Mapping[str, Any]]) -> None:
        self.components = components
        self._flat: dict[str, tuple[dict[str, Any], str]] = {}

    def flatten(self, schema: Mapping[str, Any], seen: frozenset[str] = frozenset()) -> tuple[dict[str, Any], str]:
        """``schema`` with its references followed: its properties, items and additionalProperties
        (merged over ``allOf``), and a name for messages."""
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = ref.removeprefix(_REF_PREFIX)
            if target in self._flat:
                return self._flat[target]
            found = self.components.get(target)
            if found is None or target in seen:
                return {}, "struct"
            flat = self.flatten(found, seen | {target})
            self._flat[target] = flat
            return flat
        out: dict[str, Any] = {}
        name = "struct" if "properties" in schema or "allOf" in schema else str(schema.get("type", "struct"))
        for part in schema.get("allOf") or ():
            if isinstance(part, Mapping):
                sub, sub_name = self.flatten(part, seen)
                for key in ("items", "additionalProperties"):
                    if key in sub:
                        out[key] = sub[key]
                out.setdefault("properties", {}).update(sub.get("properties", {}))
                name = sub_name
        if isinstance(schema.get("properties"), Mapping):
            out.setdefault("properties", {}).update(schema["properties"])
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), Mapping):
                out[key] = schema[key]
        return out, name


class _OpenAPIMeta(PatchMeta):
    """A :class:`PatchMeta` read lazily from OpenAPI schemas."""

    __slots__ = ("_children", "_flat", "_item_meta", "_schema", "_schemas")

    def __init__(self, schemas: _Schemas, schema: Mapping[str, Any], merge_key: str | None, strategy: str) -> None:
        super().__init__(merge_key, strategy)
        self._schemas = schemas
        self._schema = schema
        self._flat: dict[str, Any] | None = None
        self._children: dict[str, PatchMeta] = {}
        self._item_meta: PatchMeta | None = None

    def _resolved(self) -> dict[str, Any]:
        if self._flat is None:
            self._flat, self.name = self._schemas.flatten(self._schema)
        return self._flat

    def _meta_of(self, schema: Any) -> PatchMeta:
        if not isinstance(schema, Mapping):
            return _EMPTY
        merge_key = schema.get("x-kubernetes-patch-merge-key")
        strategy = schema.get("x-kubernetes-patch-strategy")
        return _OpenAPIMeta(
            self._schemas,
            schema,
            merge_key if isinstance(merge_key, str) else None,
            strategy if isinstance(strategy, str) else "",
        )

    def child(self, field: str) -> PatchMeta:
        found = self._children.get(field)
        if found is None:
            flat = self._resolved()
            props = flat.get("properties") or {}
            if field in props:
                found = self._meta_of(props[field])
            else:
                found = self._meta_of(flat.get("additionalProperties"))
            self._children[field] = found
        return found

    def items(self) -> PatchMeta:
        if self._item_meta is None:
            flat = self._resolved()
            # Without ``items`` the field's own schema stands for its items, as Kubernetes reads it.
            item = _OpenAPIMeta(self._schemas, self._schema, None, "") if "items" not in flat else None
            self._item_meta = item or self._meta_of(flat["items"])
            if isinstance(self._item_meta, _OpenAPIMeta):
                self._item_meta._resolved()  # the item's name appears in messages
        return self._item_meta


def _strategy(meta: PatchMeta) -> str:
    """The list/map strategy of ``meta`` without ``retainKeys`` (``extractRetainKeysPatchStrategy``)."""
    if not meta.strategy:
        return ""
    parts = meta.strategy.split(",")
    if len(parts) == 1:
        return "" if parts[0] == _RETAIN_KEYS else parts[0]
    if len(parts) == 2 and _RETAIN_KEYS in parts:
        return parts[1] if parts[0] == _RETAIN_KEYS else parts[0]
    raise PatchError(f"unexpected patch strategy: [{' '.join(parts)}]")


# ---------------------------------------------------------------- how Go prints values in messages


def _go(value: JSON) -> str:
    """``value`` as Go's ``%v`` prints a decoded JSON value (``map[a:1 b:[x y]]``)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _go_type(value: JSON) -> str:
    """The Go type a decoded JSON value has, as ``reflect.TypeOf`` prints it."""
    if value is None:
        return "%!s(<nil>)"
    for kind, name in ((bool, "bool"), (dict, "map[string]interface {}"), (list, "[]interface {}"), (str, "string")):
        if isinstance(value, kind):
            return name
    return "int64" if isinstance(value, int) else "float64"


def _bad_arg_type(expected: str, actual: JSON) -> PatchError:
    return PatchError(f"expected a {expected}, but received a {_go_type(actual)}")


def _no_merge_key(item: Mapping[str, JSON], merge_key: str) -> PatchError:
    return PatchError(f"map: {_go(dict(item))} does not contain declared merge key: {merge_key}")


def _bad_patch_type(directive: JSON, item: Mapping[str, JSON]) -> PatchError:
    return PatchError(f"unknown patch type: {_go(directive)} in map: {_go(dict(item))}")


def _kind(value: JSON) -> str:
    """The Go kind of a decoded JSON value: values of different kinds never merge."""
    for kind, name in ((bool, "bool"), (dict, "map"), (list, "slice"), (str, "string"), (int, "int64")):
        if isinstance(value, kind):
            return name
    return "float64" if isinstance(value, float) else "nil"


# ---------------------------------------------------------------- strategic merge patch


def _is_directive_key(key: str) -> bool:
    return (
        key in (_DIRECTIVE, _RETAIN_KEYS_DIRECTIVE)
        or key.startswith(_SET_ELEMENT_ORDER + "/")
        or key.startswith(_DELETE_FROM_PRIMITIVE_LIST + "/")
    )


def _scrub(value: JSON) -> JSON:
    """A value taken whole from the patch, as the API server's typed decoding leaves it: no ``null``
    map values and no directive keys, at any depth."""
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if v is not None and not _is_directive_key(k)}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _added(value: JSON) -> tuple[JSON, bool]:
    """A value the patch adds where the document has none (``removeDirectives`` after
    ``discardNullValuesFromPatch``): a map carrying ``$patch`` is dropped (``keep`` is false), as a
    list item carrying one is; what is left is scrubbed."""
    if isinstance(value, dict):
        if _DIRECTIVE in value:
            return None, False
        out = {}
        for k, v in value.items():
            if v is None or _is_directive_key(k):
                continue
            kept, keep = _added(v)
            if keep:
                out[k] = kept
        return out, True
    if isinstance(value, list):
        items = [_added(v) for v in value]
        return [v for v, keep in items if keep], True
    return value, True


def _extract_key(key: str, prefix: str) -> str:
    """The list a ``$setElementOrder/<list>`` or ``$deleteFromPrimitiveList/<list>`` key names."""
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        raise _bad_primitive_list() if prefix == _DELETE_FROM_PRIMITIVE_LIST else _bad_set_element_order()
    return rest


def strategic_merge_patch(doc: JSON, patch: JSON, meta: PatchMeta) -> JSON:
    """``doc`` with the strategic merge patch ``patch`` applied, field strategies read from ``meta``
    (the meta of the document's kind, e.g. ``PatchMeta.from_openapi(schemas, "io.k8s.api.core.v1.Pod")``).

    Both must be JSON objects (:class:`PatchError` ``invalid JSON document``, 400, otherwise)."""
    if not isinstance(doc, dict) or not isinstance(patch, dict):
        raise _bad_json_doc()
    return _merge_map(copy.deepcopy(doc), copy.deepcopy(patch), meta)


def _merge_map(original: dict[str, JSON], patch: dict[str, JSON], meta: PatchMeta) -> dict[str, JSON]:
    """``patch`` merged into ``original`` (both owned: modified in place), as ``mergeMap``."""
    if _DIRECTIVE in patch:
        directive = patch.pop(_DIRECTIVE)
        if directive == _REPLACE:
            return _scrub(patch)
        if directive == _DELETE:
            return {}
        patch[_DIRECTIVE] = directive
        raise _bad_patch_type(directive, patch)
    _apply_retain_keys(original, patch)
    _merge_ordered_lists(original, patch, meta)
    for key, value in list(patch.items()):
        is_delete_list = key.startswith(_DELETE_FROM_PRIMITIVE_LIST)
        if is_delete_list:
            key = _extract_key(key, _DELETE_FROM_PRIMITIVE_LIST)
        if value is None:
            original.pop(key, None)
            continue
        if key not in original or _kind(original[key]) != _kind(value):
            if not is_delete_list:
                added, keep = _added(value)
                if keep:
                    original[key] = added
                else:
                    original.pop(key, None)
            continue
        live = original[key]
        if isinstance(live, dict):
            child = meta.child(key)
            original[key] = _scrub(value) if _strategy(child) == _REPLACE else _merge_map(live, value, child)
        elif isinstance(live, list):
            child = meta.child(key)
            original[key] = _merge_list_field(live, value, child, is_delete_list)[0]
        else:
            original[key] = value
    return original


def _merge_list_field(
    live: list[JSON], value: list[JSON], field: PatchMeta, is_delete_list: bool
) -> tuple[list[JSON], list[JSON]]:
    """A list field merged by its strategy (``mergeSliceHandler``): merged when the strategy is
    ``merge`` (or for a ``$deleteFromPrimitiveList``), replaced otherwise. Returns the new list and
    the live list as the merge left it (see :func:`_merge_list`)."""
    if _strategy(field) == _MERGE or is_delete_list:
        return _merge_list(live, value, field.items(), field.merge_key or "", is_delete_list)
    return _scrub(value), live


def _apply_retain_keys(original: dict[str, JSON], patch: dict[str, JSON]) -> None:
    """Apply and remove a ``$retainKeys`` directive: keys of ``original`` not listed go away; the
    patch may only set listed keys."""
    if _RETAIN_KEYS_DIRECTIVE not in patch:
        return
    listed = patch.pop(_RETAIN_KEYS_DIRECTIVE)
    if not isinstance(listed, list):
        raise _bad_retain_keys()
    keep = {k for k in listed if isinstance(k, str)}
    for key, value in patch.items():
        if value is None or key.startswith(_DELETE_FROM_PRIMITIVE_LIST) or key.startswith(_SET_ELEMENT_ORDER):
            continue
        if key not in keep:
            raise _bad_retain_keys()
    for key in [k for k in original if k not in keep]:
        del original[key]


def _merge_ordered_lists(original: dict[str, JSON], patch: dict[str, JSON], meta: PatchMeta) -> None:
    """Apply every ``$setElementOrder/<list>`` of ``patch``: merge ``<list>`` and order it as the
    directive says (``mergePatchIntoOriginal``); both keys leave ``patch``."""
    for key in [k for k in patch if k.startswith(_SET_ELEMENT_ORDER)]:
        order = patch.pop(key)
        if not isinstance(order, list):
            raise _bad_arg_type("[]interface {}", order)
        field = _extract_key(key, _SET_ELEMENT_ORDER)
        found_live, found_patch = field in original, field in patch
        live, value = original.get(field), patch.get(field)
        if found_live and not isinstance(live, list):
            raise _bad_arg_type("[]interface {}", live)
        if found_patch and not isinstance(value, list):
            raise _bad_arg_type("[]interface {}", value)
        live_list: list[JSON] = live if isinstance(live, list) else []
        patch_list: list[JSON] = value if isinstance(value, list) else []
        child = meta.child(field)
        merge_key = child.merge_key or ""
        _validate_order(patch_list, order, merge_key)
        live_order = live_list
        if found_live and not found_patch:
            merged = live_list
        elif found_patch and not found_live:
            merged = _added(patch_list)[0]
        elif found_live and found_patch:
            merged, live_order = _merge_list_field(live_list, patch_list, child, False)
        else:
            continue
        if merge_key:
            named, unnamed = _partition_maps(merged, order, merge_key)
        else:
            named, unnamed = _partition_primitives(merged, order)
        kind = _element_kind(live_list, patch_list)
        original[field] = _normalize_order(named, unnamed, order, live_order, merge_key, kind)
        patch.pop(field, None)


def _validate_order(patch_list: list[JSON], order: list[JSON], merge_key: str) -> None:
    """The patch's items must appear in ``$setElementOrder`` in the same relative order
    (``validatePatchWithSetOrderList``)."""
    if not order or not patch_list:
        return
    items = patch_list
    if merge_key:
        for item in patch_list:
            if not isinstance(item, dict):
                raise _bad_arg_type("map[string]interface {}", item)
        items = [i for i in patch_list if i.get(_DIRECTIVE) != _DELETE]
    p = s = 0
    while p < len(items) and s < len(order):
        if isinstance(items[p], dict) and _DIRECTIVE in items[p]:
            p += 1
            continue
        if _same_key(items[p], order[s], merge_key):
            p += 1
        s += 1
    if p < len(items) and s >= len(order):
        raise PatchError(
            f"The order in patch list:\n{_go(patch_list)}\n doesn't match {_SET_ELEMENT_ORDER} list:\n{_go(order)}\n"
        )


def _same_key(left: JSON, right: JSON, merge_key: str) -> bool:
    """Whether two items are the same list entry: equal primitives, or maps with equal merge keys."""
    if not merge_key:
        return bool(left == right)
    for item in (left, right):
        if not isinstance(item, dict):
            raise _bad_arg_type("map[string]interface {}", item)
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
    return bool(left[merge_key] == right[merge_key])


def _element_kind(*lists: list[JSON]) -> str:
    """The one kind of every item of ``lists`` (``sliceElementType``)."""
    found = None
    for items in lists:
        for item in items:
            kind = _kind(item)
            if found is None:
                found = kind
                if kind == "slice":
                    raise _no_list_of_lists()
            elif kind != found:
                raise PatchError(f"list element types are not identical: {_go(list(lists))}")
    if found is None:
        raise PatchError("no elements in any of the given slices")
    return found


def _merge_list(
    live: list[JSON], patch: list[JSON], items: PatchMeta, merge_key: str, is_delete_list: bool
) -> tuple[list[JSON], list[JSON]]:
    """A list with strategy ``merge`` (``mergeSlice``): primitives are a union (or, for a
    ``$deleteFromPrimitiveList``, a difference), maps merge by ``merge_key``; then ordered.

    Returns the merged list and the live list as the API server sees it afterwards. The API server
    edits the live list in place: a ``$patch: delete`` shifts the items after it down, and the first
    items it adds land in the cells freed at the end (Go's ``append`` into spare capacity). A
    ``$setElementOrder`` then orders the items the patch does not name by that edited list, which
    puts a live item the patch keeps before an item it adds; :func:`_merge_ordered_lists` uses it."""
    if not live and not patch:
        return live, live
    kind = _element_kind(live, patch)
    if kind != "map":
        if is_delete_list:
            return [v for v in live if not _contains(patch, v)], live
        merged: list[JSON] = []
        for v in live + patch:
            if not _contains(merged, v):
                merged.append(v)
        if merge_key:
            named, unnamed = _partition_maps(merged, patch, merge_key)
        else:
            named, unnamed = _partition_primitives(merged, patch)
        return _normalize_order(named, unnamed, patch, live, merge_key, kind), live
    if not merge_key:
        raise PatchError(f"cannot merge lists without merge key for {items.name}")
    cells = list(live)  # the live list's storage, edited in place as the API server edits it
    length = len(cells)
    plain: list[JSON] = []
    replace = False
    for item in patch:  # the $patch items first (mergeSliceWithSpecialElements)
        if _DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[_DIRECTIVE]
        if directive == _DELETE:
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            while (at := _find(cells[:length], merge_key, item[merge_key])) is not None:
                cells[at : length - 1] = cells[at + 1 : length]
                length -= 1
        elif directive == _REPLACE:
            replace = True
        elif directive == _MERGE:
            raise PatchError("merging lists cannot yet be specified in the patch")
        else:
            raise _bad_patch_type(directive, item)
    if replace:  # the patch's other items are the list
        merged = [_scrub(v) for v in plain]
        return _normalize_order([], merged, [], merged, merge_key, kind), cells
    kept = cells[:length]
    merged = list(kept)
    for item in plain:
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
        at = _find(merged, merge_key, item[merge_key])
        if at is None:
            added = _scrub(item)
            merged.append(added)
            if length < len(cells):
                cells[length] = added
                length += 1
        else:
            merged[at] = _merge_map(merged[at], item, items)
    named, unnamed = _partition_maps(merged, plain, merge_key)
    return _normalize_order(named, unnamed, plain, kept, merge_key, kind), cells


def _contains(items: list[JSON], value: JSON) -> bool:
    return any(_kind(v) == _kind(value) and v == value for v in items)


def _find(items: list[JSON], merge_key: str, value: JSON) -> int | None:
    """The index of the item whose merge key is ``value`` (``findMapInSliceBasedOnKeyValue``)."""
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise PatchError(f"value for key {i} is not a map")
        if merge_key in item and _kind(item[merge_key]) == _kind(value) and item[merge_key] == value:
            return i
    return None


def _partition_primitives(items: list[JSON], by: list[JSON]) -> tuple[list[JSON], list[JSON]]:
    """The items that appear in ``by``, and the others."""
    named = [v for v in items if _contains(by, v)]
    return named, [v for v in items if not _contains(by, v)]


def _partition_maps(items: list[JSON], by: list[JSON], merge_key: str) -> tuple[list[JSON], list[JSON]]:
    """The map items whose merge key appears in ``by``, and the others (``partitionMapsByPresentInList``)."""
    named: list[JSON] = []
    unnamed: list[JSON] = []
    for item in items:
        if not isinstance(item, dict):
            raise _bad_arg_type("map[string]interface {}", item)
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
        (named if _find(by, merge_key, item[merge_key]) is not None else unnamed).append(item)
    return named, unnamed


def _position(order: list[JSON], merge_key: str, kind: str) -> Callable[[JSON], int]:
    """Where an item stands in ``order`` (-1 if absent): by merge key for maps, by value otherwise."""

    def key_of(item: JSON) -> JSON:
        return item.get(merge_key) if isinstance(item, dict) else None

    def position(item: JSON) -> int:
        for i, other in enumerate(order):
            if kind == "map":
                if _kind(key_of(other)) == _kind(key_of(item)) and key_of(other) == key_of(item):
                    return i
            elif _kind(other) == _kind(item) and other == item:
                return i
        return -1

    return position


def _normalize_order(
    named: list[JSON], unnamed: list[JSON], patch_order: list[JSON], live_order: list[JSON], merge_key: str, kind: str
) -> list[JSON]:
    """``named`` (the items the patch names) sorted by ``patch_order`` and ``unnamed`` (live items
    only) by ``live_order``, then woven together by the live order (``normalizeElementOrder``)."""
    if kind == "map":
        for item in [*named, *unnamed, *patch_order, *live_order]:
            if not isinstance(item, dict):
                raise _bad_arg_type("map[string]interface {}", item)
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
    named = _sorted_by(named, _position(patch_order, merge_key, kind))
    unnamed = _sorted_by(unnamed, _position(live_order, merge_key, kind))
    live_position = _position(live_order, merge_key, kind)
    out: list[JSON] = []
    i = j = 0
    while i < len(unnamed) or j < len(named):
        if j >= len(named):
            out.append(unnamed[i])
            i += 1
        elif i >= len(unnamed):
            out.append(named[j])
            j += 1
        else:
            li, ri = live_position(unnamed[i]), live_position(named[j])
            if li >= 0 and ri >= 0 and li < ri:
                out.append(unnamed[i])
                i += 1
            else:
                out.append(named[j])
                j += 1
    return out


def _sorted_by(items: list[JSON], position: Callable[[JSON], int]) -> list[JSON]:
    """``items`` in the order ``position`` gives; items it does not know keep their order, after."""
    positions = [position(item) for item in items]
    ranked = sorted(range(len(items)), key=lambda i: (positions[i] < 0, positions[i], i))
    return [items[i] for i in ranked]
