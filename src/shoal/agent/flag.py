"""``Flag``: ``asyncio.Event`` for a component that waits on many things at once, a hundred thousand
times over (a hollow node's task runners): waiting is one plain future, shared by every waiter and
kept until ``clear``, where ``Event.wait`` inside ``asyncio.wait`` costs a task per wait. ``on_set``, a
plain callback, lets a waiter that holds no coroutine at all be woken."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Flag:
    __slots__ = ("_fut", "_set", "on_set")

    def __init__(self) -> None:
        self._set = False
        self._fut: asyncio.Future[bool] | None = None
        self.on_set: Callable[[], None] | None = None

    def set(self) -> None:
        self._set = True
        if self._fut is not None and not self._fut.done():
            self._fut.set_result(True)
        if self.on_set is not None:
            self.on_set()

    def clear(self) -> None:
        self._set = False
        if self._fut is not None and self._fut.done():
            self._fut = None

    def is_set(self) -> bool:
        return self._set

    def future(self) -> asyncio.Future[bool]:
        """Done once the flag is set (at once if it is); never cancel it, it is shared."""
        if self._fut is None or self._fut.cancelled():
            self._fut = asyncio.get_running_loop().create_future()
        if self._set and not self._fut.done():
            self._fut.set_result(True)
        return self._fut

    async def wait(self) -> bool:
        if self._set:
            return True
        return await asyncio.shield(self.future())
