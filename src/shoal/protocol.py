"""The manager ↔ agent protocol: the messages of a dispatcher session, and what both sides share.

The manager (``manager/dispatcher.py``, ``manager/remote.py``) and the agent (``agent/worker.py``,
``agent/remote.py``) never import each other; what crosses between them is defined here, once:

- ``Assignments``: the dispatcher's stream to a node (tasks, removals, the node's view of its
  networks, the secrets and configs its tasks use). In-process sessions pass the object itself;
  over the swarm port it is one message of ``ManagerMessage``.
- the session's messages, as tagged unions (the tag is the JSON field ``type``). The agent sends
  ``AgentMessage``: ``register``, ``heartbeat``, ``status`` (task status reports), and the answers
  to a log read (``log`` lines, then ``logs_end``). The manager sends ``ManagerMessage``:
  ``assignments``, ``heartbeat`` replies (period, the managers' addresses, the node's wanted role),
  and log reads (``logs``, ``logs_cancel``).
- ``LogLine``: one line of a task's log, as read from its node; ``LogRecord`` is its form on the
  wire between managers (``GET /logs/{task}``, one JSON object a line).
- ``LEADER_HEADER``: the header in which a manager that is not the leader names the leader.
- the swarm port's requests (``JoinRequest``, ``RenewRequest``, ``PromoteRequest``); their answers
  are JSON objects (a certificate, and what a joining manager needs: ``manager/remote.py``).

Each side decodes a message once, straight into its typed form (``AGENT_MESSAGES``,
``MANAGER_MESSAGES``); a message of an unknown type, or with a missing or mistyped field, is a
``msgspec.ValidationError`` (a ``msgspec.DecodeError``), which ends the session: it is reopened and
everything resent. Both sides are the same version (there is no version negotiation).

This module sits below the manager and the agent and above the runtime (see ``docs/design/layers.md``):
it imports only ``api``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from shoal.api.endpoints import NetworkEndpoints
from shoal.api.kubenet import KubeNetView, PodNetwork
from shoal.api.types import Config, NodeDescription, Secret, Task, TaskStatus

LEADER_HEADER = "X-Shoal-Leader"


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line of a task's log: its RFC 3339 nano timestamp, ``stdout`` or ``stderr``, and its bytes
    (without the newline)."""

    timestamp: str
    stream: str  # stdout | stderr
    message: bytes  # without the newline


class _Message(msgspec.Struct, tag_field="type"):
    """A message of a dispatcher session; its class's ``tag`` is the ``type`` field on the wire."""


# --- manager → agent -----------------------------------------------------------------------------


class Assignments(_Message, tag="assignments"):
    """One message of the assignment stream: tasks to run or update, and tasks to forget."""

    tasks: list[Task] = msgspec.field(default_factory=list)
    removed: list[str] = msgspec.field(default_factory=list)
    full: bool = False
    # For each network the node's tasks are on, the addresses of the other nodes with tasks on it
    # (where its overlay traffic goes); None: unchanged.
    peers: dict[str, list[str]] | None = None
    # For each of those networks, its services' endpoints (name, mode, VIP, running tasks' addresses,
    # aliases: ``api/endpoints.py``), from which the node answers names and balances VIPs;
    # None: unchanged.
    endpoints: dict[str, NetworkEndpoints] | None = None
    # The routing mesh as this node plays it: the ingress network, the node's address on it, and
    # each published port with its tasks' addresses (``local``: those on this node); None: unchanged.
    ingress: dict[str, Any] | None = None
    # When the node has tasks on encrypted networks: its own address, those networks, and the keys
    # (``manager/netkeys.py``); else empty. None: unchanged.
    encryption: dict[str, Any] | None = None
    # The Kubernetes network (Services, their endpoints, Ingresses, the settings: ``api/kubenet.py``), sent
    # whole to a node that runs Pods whenever it changed; None: unchanged.
    kube: KubeNetView | None = None
    # The pod network (``api/kubenet.PodNetwork``): the node's block of the pod range and every other
    # node's (address, block); sent whole to a node that runs Pods when it changed; None: unchanged.
    podnet: PodNetwork | None = None
    # The secrets and configs (with their bytes) the node's tasks need and it has not been sent yet,
    # and the IDs of those it was sent that no task there needs any more.
    secrets: list[Secret] = msgspec.field(default_factory=list)
    configs: list[Config] = msgspec.field(default_factory=list)
    deps_removed: list[str] = msgspec.field(default_factory=list)

    def merge_dependencies(self, more: Assignments) -> None:
        """Fold a later message's secrets and configs into this one (a later removal wins over an
        earlier send, and a later send over an earlier removal)."""
        gone = set(more.deps_removed)
        added = {o.ID for o in more.secrets} | {o.ID for o in more.configs}
        self.secrets = [o for o in self.secrets if o.ID not in gone] + more.secrets
        self.configs = [o for o in self.configs if o.ID not in gone] + more.configs
        self.deps_removed = [i for i in self.deps_removed if i not in added] + more.deps_removed


class HeartbeatReply(_Message, tag="heartbeat"):
    """The answer to a heartbeat: when to send the next one, the managers' addresses (the agent
    follows managers that join and leave), and the role the managers want this node in."""

    period: float
    managers: list[str] = msgspec.field(default_factory=list)
    role: str = ""


class LogsRequest(_Message, tag="logs"):
    """Read a task's log on its node (``tail`` and ``since`` applied there); answered with ``LogEntry``
    messages of the same ``id``, then ``LogsEnd``."""

    id: str
    task_id: str
    since: float = 0.0
    tail: int = -1
    follow: bool = False
    stdout: bool = True
    stderr: bool = True


class LogsCancel(_Message, tag="logs_cancel"):
    """Stop the log read ``id`` (its reader went away)."""

    id: str


class StreamOpen(_Message, tag="stream_open"):
    """Open stream ``id`` into a Pod's task on the node: ``exec`` (``command`` in ``container``, with a
    TTY, with stdin) or ``dial`` (a TCP connection to ``port`` inside its network namespace). The agent
    answers ``StreamData`` with ``stream`` "open" once it runs (or ``StreamEnd`` with the error), then
    the output (``stdout``/``stderr``; a dial's bytes as ``stdout``), then ``StreamEnd``."""

    id: str
    kind: str  # exec | dial
    task_id: str
    container: str = ""
    command: list[str] = msgspec.field(default_factory=list)
    tty: bool = False
    stdin: bool = False
    port: int = 0


class StreamData(_Message, tag="stream_data"):
    """Bytes of stream ``id``: to the node, the exec's stdin or the dial's bytes; from the node, its
    output (``stream`` stdout or stderr), or "open"."""

    id: str
    data: bytes = b""
    stream: str = ""


class StreamControl(_Message, tag="stream_control"):
    """The end of the input of stream ``id`` (``eof``), a new terminal size, or ``kill`` (close it)."""

    id: str
    eof: bool = False
    width: int = 0
    height: int = 0
    kill: bool = False


ManagerMessage = Assignments | HeartbeatReply | LogsRequest | LogsCancel | StreamOpen | StreamData | StreamControl


# --- agent → manager -----------------------------------------------------------------------------


class Register(_Message, tag="register"):
    """The first message of a session: the node's description and the address it advertises."""

    description: NodeDescription
    addr: str = ""
    # The node wires Pods' networks (a runtime with sandboxes): it is sent the Kubernetes network
    # (``Assignments.kube``). Hollow nodes (``shoal sim``) are not.
    kube_network: bool = False


class Heartbeat(_Message, tag="heartbeat"):
    """The node is alive; answered with a ``HeartbeatReply``."""


class StatusReport(_Message, tag="status"):
    """Task status reports: (task ID, its new status)."""

    updates: list[tuple[str, TaskStatus]]


class LogEntry(_Message, tag="log"):
    """One line of the log read ``id`` (its bytes as UTF-8 text, invalid bytes replaced)."""

    id: str
    ts: str
    stream: str
    msg: str

    @classmethod
    def of(cls, rid: str, ll: LogLine) -> LogEntry:
        return cls(id=rid, ts=ll.timestamp, stream=ll.stream, msg=ll.message.decode("utf-8", "replace"))

    def line(self) -> LogLine:
        return LogLine(self.ts, self.stream, self.msg.encode())


class LogsEnd(_Message, tag="logs_end"):
    """The log read ``id`` has no more lines."""

    id: str


class StreamEnd(_Message, tag="stream_end"):
    """Stream ``id`` is over: the exec's exit code, or why it could not be opened (``error``)."""

    id: str
    code: int = 0
    error: str = ""
    error_kind: str = ""  # the api.errors class of ``error``: FailedPrecondition, NotFound, Unavailable


AgentMessage = Register | Heartbeat | StatusReport | LogEntry | LogsEnd | StreamData | StreamEnd


# --- manager → manager ---------------------------------------------------------------------------


class LogRecord(msgspec.Struct):
    """A log line on the wire between managers (``GET /logs/{task}``, one JSON object a line)."""

    ts: str
    stream: str
    msg: str

    @classmethod
    def of(cls, ll: LogLine) -> LogRecord:
        return cls(ts=ll.timestamp, stream=ll.stream, msg=ll.message.decode("utf-8", "replace"))

    def line(self) -> LogLine:
        return LogLine(self.ts, self.stream, self.msg.encode())


# --- the swarm port's requests (agent → manager, over HTTPS) -------------------------------------


class JoinRequest(msgspec.Struct):
    """``POST /join``: the join token, the node's certificate request, and what it advertises."""

    token: str
    csr: str
    hostname: str = ""
    addr: str = ""  # host:port the node advertises (a manager's swarm port)
    peer_port: int = 0  # a manager's etcd peer port, on the advertised host


class RenewRequest(msgspec.Struct):
    """``POST /renew``: a new certificate request for the caller's node."""

    csr: str


class PromoteRequest(msgspec.Struct):
    """``POST /promote``: a promoted worker's new certificate request, and what it advertises."""

    csr: str
    addr: str
    peer_port: int


# --- codecs --------------------------------------------------------------------------------------

AGENT_MESSAGES: msgspec.json.Decoder[AgentMessage] = msgspec.json.Decoder(AgentMessage)
MANAGER_MESSAGES: msgspec.json.Decoder[ManagerMessage] = msgspec.json.Decoder(ManagerMessage)
LOG_RECORDS: msgspec.json.Decoder[LogRecord] = msgspec.json.Decoder(LogRecord)
_encoder = msgspec.json.Encoder()


def encode(msg: _Message | LogRecord | JoinRequest | RenewRequest | PromoteRequest) -> bytes:
    """A message as JSON (the session sends it as one WebSocket message)."""
    return _encoder.encode(msg)
