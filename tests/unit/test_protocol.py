"""The manager ↔ agent messages: each decodes once into its type, in the JSON shapes the session
carried as dicts before (same ``type`` tags, same field names), and a message the other side does not
know is refused."""

from __future__ import annotations

import msgspec
import pytest

from shoal.api.endpoints import Endpoint, NetworkEndpoints
from shoal.api.states import TaskState
from shoal.api.types import NodeDescription, Secret, SecretSpec, TaskStatus
from shoal.protocol import (
    AGENT_MESSAGES,
    LOG_RECORDS,
    MANAGER_MESSAGES,
    Assignments,
    Heartbeat,
    HeartbeatReply,
    LogEntry,
    LogLine,
    LogRecord,
    LogsCancel,
    LogsEnd,
    LogsRequest,
    Register,
    StatusReport,
    encode,
)

from .helpers import make_task


def test_assignments_round_trip_with_their_wire_shape() -> None:
    t = make_task("svc", node_id="n1", state=TaskState.ASSIGNED)
    msg = Assignments(tasks=[t], removed=["gone"], full=True, peers={"net": ["10.0.0.2"]},
                      endpoints={"net": NetworkEndpoints(Name="front", Services={"s1": Endpoint(
                          Name="web", VIP="10.0.1.2", Backends=("10.0.1.3",))})},
                      ingress={"port": 80}, encryption={},
                      secrets=[Secret(ID="s1", Spec=SecretSpec(Name="db", Data=b"s3cret"))], deps_removed=["c9"])
    wire = msgspec.json.decode(encode(msg))
    assert wire["type"] == "assignments"
    assert set(wire) == {"type", "tasks", "removed", "full", "peers", "endpoints", "ingress", "encryption", "kube",
                         "podnet", "secrets", "configs", "deps_removed"}
    back = MANAGER_MESSAGES.decode(encode(msg))
    assert back == msg and isinstance(back.tasks[0].Status, TaskStatus)
    assert back.secrets[0].Spec.Data == b"s3cret"


def test_an_unchanged_view_stays_none() -> None:
    back = MANAGER_MESSAGES.decode(encode(Assignments(removed=["t1"])))
    assert isinstance(back, Assignments) and back.peers is None and back.endpoints is None and back.ingress is None


@pytest.mark.parametrize("msg", [
    HeartbeatReply(period=5.0, managers=["10.213.0.2:2377"], role="manager"),
    LogsRequest(id="r1", task_id="t1", since=1.5, tail=10, follow=True, stdout=True, stderr=False),
    LogsCancel(id="r1"),
])
def test_manager_messages_round_trip(msg: HeartbeatReply | LogsRequest | LogsCancel) -> None:
    assert MANAGER_MESSAGES.decode(encode(msg)) == msg


@pytest.mark.parametrize("msg", [
    Register(description=NodeDescription(Hostname="w1"), addr="10.213.0.3:2377"),
    Heartbeat(),
    StatusReport(updates=[("t1", TaskStatus(State=TaskState.RUNNING, Message="started"))]),
    LogEntry(id="r1", ts="2026-12-04T14:00:00.000000000Z", stream="stdout", msg="hello"),
    LogsEnd(id="r1"),
])
def test_agent_messages_round_trip(msg: Register | Heartbeat | StatusReport | LogEntry | LogsEnd) -> None:
    assert AGENT_MESSAGES.decode(encode(msg)) == msg


def test_the_tags_are_the_old_type_fields() -> None:
    assert msgspec.json.decode(encode(Heartbeat())) == {"type": "heartbeat"}
    assert msgspec.json.decode(encode(LogsEnd(id="r"))) == {"type": "logs_end", "id": "r"}
    assert msgspec.json.decode(encode(StatusReport(updates=[])))["type"] == "status"
    assert msgspec.json.decode(encode(LogsCancel(id="r"))) == {"type": "logs_cancel", "id": "r"}


def test_log_lines_cross_as_text() -> None:
    ll = LogLine("2026-12-04T14:00:00.000000000Z", "stderr", b"caf\xc3\xa9 \xff")
    entry = AGENT_MESSAGES.decode(encode(LogEntry.of("r1", ll)))
    assert isinstance(entry, LogEntry) and entry.line() == LogLine(ll.timestamp, "stderr", "café \ufffd".encode())
    record = LOG_RECORDS.decode(encode(LogRecord.of(ll)))
    assert record.line() == entry.line()


def test_an_unknown_or_incomplete_message_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        AGENT_MESSAGES.decode(b'{"type": "assignments", "tasks": []}')  # a manager's message, sent up
    with pytest.raises(msgspec.ValidationError):
        MANAGER_MESSAGES.decode(b'{"type": "heartbeat"}')  # a reply without its period
    with pytest.raises(msgspec.ValidationError):
        AGENT_MESSAGES.decode(b'{"type": "status", "updates": [["t1", "running"]]}')


def test_assignments_merge_dependencies() -> None:
    s = Secret(ID="s", Spec=SecretSpec(Name="s", Data=b"x"))
    msg = Assignments(secrets=[s])
    msg.merge_dependencies(Assignments(deps_removed=["s"]))
    assert msg.secrets == [] and msg.deps_removed == ["s"]
    msg.merge_dependencies(Assignments(secrets=[s]))
    assert msg.secrets == [s] and msg.deps_removed == []
