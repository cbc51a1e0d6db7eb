"""What every part of the control API shares: its errors (coded, see ``api/errors.py``), and finding
objects the way dockerd does (label filters are ``api/labels.py``).

The control API's own rules (validation, uniqueness, sequence) raise errors marked ``control=True``:
a Docker user sees them as SwarmKit's gRPC errors, which the Docker front door words; nothing here
formats a door's text. ``find`` looks an object up by full ID, then exact name, then unique ID
prefix (dockerd's ``getService``/``getNode``/``getSecret``…), with Docker's ``not found`` and
``is ambiguous`` words (dockerd's own checks, so not marked).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from shoal.api.errors import Code, InvalidArgument, NotFound, ShoalError, error_of

T = TypeVar("T")


def RPCError(code: str | Code, desc: str) -> ShoalError:
    """An error of the control API with its code (by gRPC name or ``Code``); each door derives its
    status and words from the code."""
    return error_of(Code(code), desc, control=True)


def invalid(desc: str) -> ShoalError:
    return error_of(Code.INVALID_ARGUMENT, desc, control=True)


def unimplemented(desc: str) -> ShoalError:
    return error_of(Code.UNIMPLEMENTED, desc, control=True)


def failed_precondition(desc: str) -> ShoalError:
    return error_of(Code.FAILED_PRECONDITION, desc, control=True)


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
