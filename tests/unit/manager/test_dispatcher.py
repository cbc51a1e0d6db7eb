"""Dispatcher sessions: registration, a node marked down by missed heartbeats coming back on the next."""

from __future__ import annotations

from shoal.api.types import Node, NodeDescription
from shoal.manager.dispatcher import Dispatcher

from ..helpers import memory_store


async def test_a_node_marked_down_is_ready_again_when_its_heartbeat_arrives() -> None:
    store = await memory_store()
    now = [100.0]
    d = Dispatcher(store, heartbeat_period=5.0, clock=lambda: now[0])
    session = await d.register("n1", NodeDescription(Hostname="h1"), "127.0.0.1")
    first = await session.assignments()
    assert first is not None and first.full
    node = store.get(Node, "n1")
    assert node is not None and node.Status.State == "ready"

    await d.mark_down("n1", "heartbeat failure")  # what the checker does after three missed heartbeats
    node = store.get(Node, "n1")
    assert node is not None and node.Status.State == "down" and node.Status.Message == "heartbeat failure"

    now[0] += 30
    assert await session.heartbeat() == 5.0
    node = store.get(Node, "n1")
    assert node is not None and node.Status.State == "ready" and session.last_heartbeat == now[0]
    await d.stop()
