"""Query-string values as dockerd's ``api/server/httputils`` reads them."""

from __future__ import annotations

from collections.abc import Mapping

_FALSE = frozenset({"", "0", "no", "false", "none"})


def bool_value(query: Mapping[str, str], name: str) -> bool:
    """``httputils.BoolValue``: true unless the value, trimmed and lower-cased, is empty, ``0``, ``no``,
    ``false`` or ``none`` (so ``1``, ``true``, ``True``, ``yes`` are all true)."""
    return query.get(name, "").strip().lower() not in _FALSE
