"""What every part of the control API shares: SwarmKit's gRPC-shaped errors, and finding objects the
way dockerd does (label filters are ``api/labels.py``).

``find`` looks an object up by full ID, then exact name, then unique ID prefix (dockerd's
``getService``/``getNode``/``getSecret``…), with Docker's ``not found`` and ``is ambiguous`` words.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from shoal.api.errors import InvalidArgument, NotFound, ShoalError

T = TypeVar("T")


class RPCError(ShoalError):
    """An error SwarmKit returns over gRPC; dockerd shows it as ``rpc error: code = X desc = …``."""

    def __init__(self, code: str, desc: str, status: int) -> None:
        super().__init__(f"rpc error: code = {code} desc = {desc}")
        self.status = status


def invalid(desc: str) -> RPCError:
    return RPCError("InvalidArgument", desc, 400)


def unimplemented(desc: str) -> RPCError:
    return RPCError("Unimplemented", desc, 501)


def find(items: list[T], ref: str, id_of: Callable[[T], str], name_of: Callable[[T], str], what: str) -> T:
    for o in items:
        if id_of(o) == ref:
            return o
    named = [o for o in items if name_of(o) == ref]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise InvalidArgument(f"{what} {ref} is ambiguous ({len(named)} matches found)")
    prefixed = [o for o in items if ref and id_of(o).startswith(ref)]
    if len(prefixed) == 1:
        return prefixed[0]
    if len(prefixed) > 1:
        raise InvalidArgument(f"{what} {ref} is ambiguous ({len(prefixed)} matches found)")
    raise NotFound(f"{what} {ref} not found")
