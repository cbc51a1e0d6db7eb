"""The ``label`` filter of list calls: ``key`` (present) or ``key=value`` (equal), every one must hold."""

from __future__ import annotations


def labels_match(labels: dict[str, str] | None, wanted: list[str]) -> bool:
    have = labels or {}
    for w in wanted:
        k, eq, v = w.partition("=")
        if k not in have or (eq and have[k] != v):
            return False
    return True
