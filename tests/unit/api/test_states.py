"""Task states: SwarmKit's order, the terminal states, the agent's next step, and the wire form."""

from __future__ import annotations

import itertools

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shoal.api.states import NEXT_STATE, STATE_MESSAGE, TaskState, is_forward
from shoal.api.types import Task, TaskStatus, decode, encode

S = TaskState
ORDER = [S.NEW, S.ALLOCATED, S.PENDING, S.ASSIGNED, S.ACCEPTED, S.PREPARING, S.READY, S.STARTING, S.RUNNING,
         S.COMPLETE, S.SHUTDOWN, S.FAILED, S.REJECTED, S.REMOVE, S.ORPHANED]


def test_every_state_is_in_the_order_once() -> None:
    assert sorted(ORDER, key=lambda s: s.value) == sorted(TaskState, key=lambda s: s.value)
    assert [s.rank for s in ORDER] == list(range(len(ORDER)))


def test_states_order_as_in_swarmkit() -> None:
    assert sorted(reversed(ORDER)) == ORDER
    for a, b in itertools.pairwise(ORDER):
        assert a < b and a <= b and b > a and b >= a
        assert not (a > b) and not (a >= b)
    assert S.RUNNING <= S.RUNNING and S.RUNNING >= S.RUNNING
    # The comparisons used across the code base.
    assert S.PENDING < S.ASSIGNED <= S.RUNNING < S.COMPLETE
    assert S.SHUTDOWN > S.RUNNING and S.REMOVE > S.SHUTDOWN


@given(a=st.sampled_from(ORDER), b=st.sampled_from(ORDER))
def test_comparisons_agree_with_rank(a: TaskState, b: TaskState) -> None:
    assert (a < b) == (a.rank < b.rank)
    assert (a <= b) == (a.rank <= b.rank)
    assert (a > b) == (a.rank > b.rank)
    assert (a >= b) == (a.rank >= b.rank)
    assert (a == b) == (a.rank == b.rank)
    assert is_forward(a, b) == (b.rank >= a.rank)


def test_terminal() -> None:
    terminal = {s for s in TaskState if s.terminal}
    assert terminal == {S.COMPLETE, S.SHUTDOWN, S.FAILED, S.REJECTED, S.REMOVE, S.ORPHANED}
    assert all(s > S.RUNNING for s in terminal)
    assert not S.RUNNING.terminal and not S.NEW.terminal


def test_next_state_walks_assigned_to_running_one_step_at_a_time() -> None:
    chain = [S.ASSIGNED]
    while chain[-1] in NEXT_STATE:
        nxt = NEXT_STATE[chain[-1]]
        assert nxt.rank == chain[-1].rank + 1
        chain.append(nxt)
    assert chain == [S.ASSIGNED, S.ACCEPTED, S.PREPARING, S.READY, S.STARTING, S.RUNNING]


def test_is_forward() -> None:
    assert is_forward(S.PREPARING, S.READY)
    assert is_forward(S.RUNNING, S.RUNNING)
    assert is_forward(S.ASSIGNED, S.FAILED)
    assert not is_forward(S.RUNNING, S.STARTING)
    assert not is_forward(S.FAILED, S.RUNNING)


def test_wire_form_is_the_lowercase_name() -> None:
    assert str(S.RUNNING) == "running"
    assert S.RUNNING == "running"  # a str enum: equal to its wire value, and hashes the same
    assert {"running": 1}[S.RUNNING] == 1
    assert msgspec.json.encode(S.PREPARING) == b'"preparing"'
    t = Task(ID="x", Status=TaskStatus(State=S.STARTING), DesiredState=S.READY)
    back = decode(Task, encode(t))
    assert back.Status.State is S.STARTING and back.DesiredState is S.READY
    with pytest.raises(msgspec.ValidationError):
        decode(Task, b'{"ID": "x", "DesiredState": "sleeping"}')


def test_every_state_a_task_passes_through_has_swarmkits_message() -> None:
    assert set(TaskState) - {S.ALLOCATED} <= set(STATE_MESSAGE)  # nothing sets "allocated"
    assert STATE_MESSAGE[S.PENDING] == "pending task scheduling"
    assert STATE_MESSAGE[S.ASSIGNED] == "scheduler assigned task to node"
    assert STATE_MESSAGE[S.RUNNING] == "started"
    assert STATE_MESSAGE[S.READY] == "prepared"
