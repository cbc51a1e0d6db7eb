"""Query-string values as dockerd's ``api/server/httputils`` reads them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shoal.api.errors import InvalidArgument

_FALSE = frozenset({"", "0", "no", "false", "none"})


def bool_value(query: Mapping[str, str], name: str) -> bool:
    """``httputils.BoolValue``: true unless the value, trimmed and lower-cased, is empty, ``0``, ``no``,
    ``false`` or ``none`` (so ``1``, ``true``, ``True``, ``yes`` are all true)."""
    return query.get(name, "").strip().lower() not in _FALSE


def filters(query: Mapping[str, str]) -> dict[str, list[str]]:
    """Docker's ``filters`` query: ``{"key": {"value": true}}`` (or the old ``{"key": ["value"]}``);
    ``null`` for the whole or for a key is no filter, as Go decodes it."""
    raw = query.get("filters")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise InvalidArgument(f"invalid filter '{raw}'") from e
    return _filter_sets(data)


_GO_KINDS = ((bool, "bool"), (int, "number"), (float, "number"), (str, "string"), (list, "array"), (dict, "object"))


def _kind(v: Any) -> str:
    return next(name for t, name in _GO_KINDS if isinstance(v, t))


def _filter_sets(data: Any) -> dict[str, list[str]]:
    """moby's ``filters.FromJSON``: a map of sets (``{"key": {"value": true}}``) or the old map of lists
    (here, key by key); anything else: 400 with Go's words for it as a map of sets, as dockerd 20.10 says."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidArgument(f"json: cannot unmarshal {_kind(data)} into Go value of type map[string]map[string]bool")
    out: dict[str, list[str]] = {}
    for k, v in data.items():
        if v is None:
            continue
        if isinstance(v, dict):
            bad = [on for on in v.values() if on is not None and not isinstance(on, bool)]
            if bad:
                raise InvalidArgument(f"json: cannot unmarshal {_kind(bad[0])} into Go value of type bool")
            out[k] = [x for x, on in v.items() if on]
        elif isinstance(v, list) and all(x is None or isinstance(x, str) for x in v):
            out[k] = [x or "" for x in v]
        else:
            raise InvalidArgument(f"json: cannot unmarshal {_kind(v)} into Go value of type map[string]bool")
    return out
