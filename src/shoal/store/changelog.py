"""The recent changes of the store, by revision, for watches that resume from a revision
(Kubernetes' ``?watch=true&resourceVersion=N``).

A ``ChangeLog`` listens to an ``ObjectStore`` and keeps the last ``capacity`` changes (kind, old, new,
revision) in memory: every manager has one, leader or follower (a follower's store folds in the
leader's writes with their revisions). A watch from revision ``N`` first gets the kept changes after
``N``, then the new ones as they commit; one from a revision older than what is kept raises
``Gone`` (the client lists again, as Kubernetes clients do after a 410). A watcher that falls more
than ``capacity`` changes behind is ended, and resumes from where it was.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable

from shoal.api.errors import Gone
from shoal.store.objects import Change, ObjectStore

DEFAULT_CAPACITY = 50_000


class ChangeLog:
    def __init__(self, store: ObjectStore, capacity: int = DEFAULT_CAPACITY) -> None:
        self.store = store
        self.capacity = capacity
        self._changes: deque[Change] = deque()
        self.floor = store.revision  # the oldest revision a watch can resume from
        self._watchers: list[tuple[Callable[[Change], bool], asyncio.Queue[Change | None]]] = []
        self._unsubscribe = store.subscribe(self._on_change)

    def close(self) -> None:
        self._unsubscribe()
        for _, q in self._watchers:
            q.put_nowait(None)

    def _on_change(self, ch: Change) -> None:
        if not ch.revision:
            return  # a reload's: not a change a watcher can resume after
        self._changes.append(ch)
        while len(self._changes) > self.capacity:
            self.floor = self._changes.popleft().revision
        for want, q in self._watchers:
            if want(ch):
                if q.qsize() >= self.capacity:
                    q.put_nowait(None)  # too far behind: ended, the client resumes or lists again
                else:
                    q.put_nowait(ch)

    def watch(self, want: Callable[[Change], bool], since: int) -> AsyncIterator[Change]:
        """The changes ``want`` accepts after revision ``since``: the kept ones, then the new ones. The
        watcher is registered at once (not at the first ``__anext__``), so a caller may read the
        current objects after this call and miss nothing."""
        if since < self.floor:
            raise Gone(f"too old resource version: {since} ({self.floor})", oldest=self.floor)
        q: asyncio.Queue[Change | None] = asyncio.Queue()
        sub = (want, q)
        self._watchers.append(sub)  # subscribe first, then replay: nothing falls between the two
        kept = [ch for ch in self._changes if ch.revision > since and want(ch)]
        return self._stream(sub, kept, since)

    async def _stream(self, sub: tuple[Callable[[Change], bool], asyncio.Queue[Change | None]],
                      kept: list[Change], since: int) -> AsyncIterator[Change]:
        q = sub[1]
        try:
            last = since
            for ch in kept:
                last = ch.revision
                yield ch
            while True:
                item = await q.get()
                if item is None:
                    return
                if item.revision <= last:
                    continue
                yield item
        finally:
            self._watchers.remove(sub)
