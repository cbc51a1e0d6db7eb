"""Query-string values as dockerd's ``api/server/httputils`` reads them."""

from __future__ import annotations

import json
from collections.abc import Mapping

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
    if data is None:
        return {}
    if not isinstance(data, dict):  # moby's FromJSON: neither the map of sets nor the old map of lists
        raise InvalidArgument("invalid filter")
    out: dict[str, list[str]] = {}
    for k, v in data.items():
        if v is None:
            continue
        if isinstance(v, dict) and all(on is None or isinstance(on, bool) for on in v.values()):
            out[k] = [x for x, on in v.items() if on]
        elif isinstance(v, list) and all(x is None or isinstance(x, str) for x in v):
            out[k] = [x or "" for x in v]
        else:
            raise InvalidArgument("invalid filter")
    return out
