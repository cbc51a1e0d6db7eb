"""The etcd backend: the store's ``Backend`` protocol over an etcd v3 cluster, through aetcd.

It owns the mapping between shoal's store model and etcd's: keys and values are stored as they
are (UTF-8 keys, raw bytes values), so revisions, ``create_revision``/``mod_revision``, leases and
compaction are etcd's own. A ``txn`` is exactly one etcd transaction: compares on each key's mod
revision (``version == 0`` for "must not exist"), the ops with ``prev_kv`` so the returned events
carry the right ``create_revision``, and, when a compare fails, reads of the compared keys so the
first failing key can be named. ``watch(prefix, after)`` is an etcd watch (with ``prev_kv``, so a
delete event keeps its ``create_revision``) that yields only events after ``after`` and raises
``Compacted`` exactly when an embedded backend would (``after`` < the compaction revision).

Where etcd differs from the embedded backends:

* lease TTLs are whole seconds, rounded up, and never below the server's minimum TTL
  (1.5 x the election timeout, so 2 s with etcd's defaults);
* etcd refuses two operations on one key in a transaction: ops on a repeated key collapse to the
  last one, which is the final state the embedded backends commit, but only its event is
  returned and watched (and a ``Put`` then ``Delete`` of a missing key is no revision at all);
* etcd limits the number of ops per transaction (``--max-txn-ops``) and request sizes
  (``--max-request-bytes``); ``EtcdServer`` raises both above etcd's defaults;
* the revision of an empty etcd is 1, not 0, and other clients share the revision counter.

It also offers etcd's membership calls (list, add as learner, promote, remove) and the member's
view of the raft leader, which the managers' quorum uses. It does not own the etcd member itself
(``shoal.store.etcd_server``) or TLS material: managers talk to their own member on loopback
without TLS (aetcd 1.0 opens only insecure channels) and the members talk to each other over TLS.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import aetcd
import aetcd.exceptions
import aetcd.rpc as rpc

from shoal import metrics
from shoal.store.backend import KV, Compacted, Compare, CompareFailed, Delete, Event, Op, Put, StoreError, Written

MAX_MESSAGE = 256 * 1024 * 1024  # gRPC's 4 MiB default is too small for a full range of the store


def _b(key: str) -> bytes:
    return key.encode()


def _kv(kv: Any) -> KV:
    return KV(kv.key.decode(), bytes(kv.value), kv.create_revision, kv.mod_revision, kv.lease)


def _split(endpoint: str) -> tuple[str, int]:
    ep = endpoint.split("://", 1)[-1].rstrip("/")
    host, _, port = ep.rpartition(":")
    if not host:
        return ep, 2379
    return host.strip("[]"), int(port)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """aetcd's and gRPC's errors as the store's."""
    try:
        yield
    except aetcd.exceptions.RevisionCompactedError as e:
        raise Compacted(str(e)) from e
    except aetcd.exceptions.ClientError as e:
        raise StoreError(f"etcd: {e}") from e
    except rpc.AioRpcError as e:
        raise StoreError(f"etcd: {e.details()}") from e


class EtcdBackend:
    def __init__(
        self,
        endpoints: str | Sequence[str] = "127.0.0.1:2379",
        *,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        timeout: float | None = None,
    ) -> None:
        eps = [endpoints] if isinstance(endpoints, str) else list(endpoints)
        eps = [e.strip() for ep in eps for e in ep.split(",") if e.strip()]
        if not eps:
            raise ValueError("no etcd endpoint")
        if ca_file or cert_file or key_file:
            # The hook for the cluster issue: aetcd 1.0 only opens insecure channels; TLS needs a
            # grpc.aio.secure_channel built from these files.
            raise NotImplementedError("etcd over TLS is not implemented yet")
        self.endpoints = eps
        self.tls = (ca_file, cert_file, key_file)
        # Only the first endpoint is used for now (failover comes with the cluster issue).
        host, port = _split(eps[0])
        self.client = aetcd.Client(
            host,
            port,
            timeout=timeout,  # seconds; gRPC takes a float
            options={"grpc.max_receive_message_length": MAX_MESSAGE, "grpc.max_send_message_length": MAX_MESSAGE},
        )
        self._watches: set[Any] = set()
        self._closed = False

    # -- reads

    async def get(self, key: str) -> tuple[KV | None, int]:
        k = _b(key)
        with _errors():
            res = await self.client.get_range(k, k + b"\0")
        kvs = [_kv(kv) for kv in res.kvs]
        return (kvs[0] if kvs else None), res.header.revision

    async def range(self, prefix: str) -> tuple[list[KV], int]:
        with _errors():
            if prefix:
                res = await self.client.get_prefix(_b(prefix))
            else:
                res = await self.client.get_all()
        return [_kv(kv) for kv in res.kvs], res.header.revision

    # -- writes

    async def txn(self, compares: Sequence[Compare], ops: Sequence[Op],
                  on_written: Written | None = None) -> tuple[int, list[Event]]:
        """Commit ``ops`` as one etcd transaction if every compare holds, else raise CompareFailed.
        etcd answers once the write is durable on a quorum: ``on_written`` is told then."""
        tx = self.client.transactions
        conds = [
            (tx.version(_b(c.key)) == 0) if c.mod_revision == 0 else (tx.mod(_b(c.key)) == c.mod_revision)
            for c in compares
        ]
        last: dict[str, Op] = {}
        for op in ops:  # etcd refuses two ops on one key: keep the last, in the order of last use
            last.pop(op.key, None)
            last[op.key] = op
        final = list(last.values())
        success = [
            rpc.RequestOp(request_put=rpc.PutRequest(key=_b(op.key), value=op.value, lease=op.lease, prev_kv=True))
            if isinstance(op, Put)
            else rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=_b(op.key), prev_kv=True))
            for op in final
        ]
        failure = [rpc.RequestOp(request_range=rpc.RangeRequest(key=_b(c.key))) for c in compares]
        request = rpc.TxnRequest(compare=[c.build_message() for c in conds], success=success, failure=failure)
        with _errors():
            await self.client.connect()
            # aetcd's transaction() drops the response header, which carries the commit revision.
            resp = await self.client.kvstub.Txn(request, timeout=self.client._timeout, metadata=self.client.metadata)
        rev: int = resp.header.revision
        if not resp.succeeded:
            for c, r in zip(compares, resp.responses, strict=True):
                kvs = r.response_range.kvs
                if (kvs[0].mod_revision if kvs else 0) != c.mod_revision:
                    raise CompareFailed(c.key)
            raise CompareFailed(", ".join(c.key for c in compares))
        events: list[Event] = []
        for op, r in zip(final, resp.responses, strict=True):
            if isinstance(op, Put):
                prev = r.response_put.prev_kv if r.response_put.HasField("prev_kv") else None
                created = prev.create_revision if prev is not None else rev
                events.append(Event("put", KV(op.key, op.value, created, rev, op.lease), rev))
            elif isinstance(op, Delete) and r.response_delete_range.deleted:
                prev = r.response_delete_range.prev_kvs[0]
                events.append(Event("delete", KV(op.key, b"", prev.create_revision, rev), rev))
        if on_written is not None:
            on_written(rev)
        return rev, events

    # -- watch

    async def watch(self, prefix: str, after_revision: int) -> AsyncIterator[Event]:
        # Start at ``after_revision`` itself (etcd's start is inclusive) so that etcd refuses the
        # watch exactly when after_revision < the compaction revision, as the embedded backends do;
        # the event at after_revision, if any, is skipped. Revision 0 means "now" to etcd: use 1.
        start = max(after_revision, 1)
        if self._closed:
            return
        with _errors():
            if prefix:
                w = await self.client.watch_prefix(_b(prefix), start_revision=start, prev_kv=True)
            else:
                w = await self.client.watch(b"\0", range_end=b"\0", start_revision=start, prev_kv=True)
        self._watches.add(w)
        try:
            with _errors():
                async for ev in w:
                    kv = ev.kv
                    rev = kv.mod_revision
                    if rev <= after_revision:
                        continue
                    if ev.kind == "PUT":
                        yield Event("put", _kv(kv), rev)
                    else:
                        created = ev.prev_kv.create_revision if ev.prev_kv is not None else 0
                        yield Event("delete", KV(kv.key.decode(), b"", created, rev), rev)
        finally:
            self._watches.discard(w)
            if not self._closed:
                with contextlib.suppress(Exception):
                    await w.cancel()

    # -- leases

    async def lease_grant(self, ttl: float) -> int:
        with _errors():
            lease = await self.client.lease(max(1, math.ceil(ttl)))
        return int(lease.id)

    async def lease_keepalive(self, lease: int) -> None:
        with _errors():
            reply = await self.client.refresh_lease(lease)
        if reply is None or reply.TTL <= 0:
            raise StoreError(f"lease {lease} not found")

    async def lease_revoke(self, lease: int) -> None:
        try:
            with _errors():
                await self.client.revoke_lease(lease)
        except StoreError as e:
            if "not found" not in str(e):
                raise

    # -- membership (the managers' quorum)

    async def leader_id(self, timeout: float = 1.0) -> int:
        """The raft leader this member follows (0: none, the quorum is lost or an election runs)."""
        with _errors():
            await self.client.connect()
            resp = await self.client.maintenancestub.Status(rpc.StatusRequest(), timeout=timeout,
                                                            metadata=self.client.metadata)
        return int(resp.leader)

    async def members(self) -> list[tuple[int, str, list[str], bool]]:
        """``(id, name, peer URLs, is learner)`` of every member ("" name: added, not started yet)."""
        with _errors():
            await self.client.connect()
            resp = await self.client.clusterstub.MemberList(rpc.MemberListRequest(), timeout=self.client._timeout,
                                                            metadata=self.client.metadata)
        return [(int(m.ID), m.name, list(m.peerURLs), bool(m.isLearner)) for m in resp.members]

    async def member_add(self, peer_url: str, learner: bool = True) -> int:
        """Add a member by its peer URL (as a learner, which does not count toward the quorum until
        promoted); returns its ID."""
        with _errors():
            await self.client.connect()
            resp = await self.client.clusterstub.MemberAdd(
                rpc.MemberAddRequest(peerURLs=[peer_url], isLearner=learner), timeout=self.client._timeout,
                metadata=self.client.metadata,
            )
        return int(resp.member.ID)

    async def member_promote(self, member_id: int) -> None:
        """Make a learner a voting member; fails while it has not caught up with the leader."""
        with _errors():
            await self.client.connect()
            await self.client.clusterstub.MemberPromote(rpc.MemberPromoteRequest(ID=member_id),
                                                        timeout=self.client._timeout, metadata=self.client.metadata)

    async def member_remove(self, member_id: int) -> None:
        with _errors():
            await self.client.connect()
            await self.client.clusterstub.MemberRemove(rpc.MemberRemoveRequest(ID=member_id),
                                                       timeout=self.client._timeout, metadata=self.client.metadata)

    # -- maintenance

    async def compact(self, revision: int) -> None:
        _, head = await self.get("\0")
        revision = min(revision, head)
        if revision < 1:
            return
        try:
            with _errors():
                await self.client.compact(revision)
        except StoreError as e:
            if "compacted" not in str(e):  # at or before the last compaction: a no-op, as embedded
                raise
            return
        metrics.compacted("etcd")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Shutting aetcd's watcher down ends every live watch iterator (StopAsyncIteration).
        with contextlib.suppress(Exception):
            await self.client.close()
        self._watches.clear()
