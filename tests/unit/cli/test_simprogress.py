"""``shoal sim``'s progress line: redrawn in place on a (fake) terminal; elsewhere a line at each
milestone (every node up, every task running) and otherwise every few seconds when the numbers
moved, with a fake clock; and ``shoal sim bench``'s lines on stderr, its numbers alone on stdout."""

from __future__ import annotations

import io
import json
import re

from click.testing import CliRunner

from shoal.cli.main import cli
from shoal.cli.simprogress import Ticker, elapsed_text
from shoal.sim import Reached


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_at_milestones_and_every_few_seconds() -> None:
    clock, out = FakeClock(), io.StringIO()
    r = Reached(nodes=100)
    t = Ticker(r, out, clock=clock, every=5.0)
    for up in (10, 40, 70):  # three seconds of nodes coming up: nothing yet
        r.nodes_up = up
        clock.now += 1
        t.tick()
    assert out.getvalue() == ""
    r.nodes_up = 100  # a milestone: said at once
    clock.now += 1
    t.tick()
    r.tasks = 1000
    for done in (100, 300, 500, 700, 900):  # 200 tasks a second
        r.done = done
        clock.now += 1
        t.tick()
    clock.now += 1
    t.tick()  # the numbers did not move: no line
    r.done = 1000  # the other milestone
    clock.now += 0.5
    t.tick()
    clock.now += 10
    t.tick()  # idle: nothing
    t.tick(final=True)  # nothing new at the end either
    assert out.getvalue().splitlines() == [
        "nodes up: 100/100  elapsed: 4.0s",
        "nodes up: 100/100  tasks running: 900/1000  rate: 200 tasks/s  elapsed: 9.0s",
        "nodes up: 100/100  tasks running: 1000/1000  rate: 143 tasks/s  elapsed: 10.5s",  # 500 in 3.5 s
    ]


def test_one_line_redrawn_on_a_terminal() -> None:
    clock, out = FakeClock(), FakeTerminal()
    r = Reached(nodes=3, nodes_up=1)
    t = Ticker(r, out, clock=clock)
    t.tick()
    r.nodes_up, r.tasks, r.done, r.verb = 3, 10, 4, "assigned"
    clock.now += 2
    t.tick()
    t.clear()
    t.tick(final=True)
    assert out.getvalue() == ("\r\x1b[2Knodes up: 1/3  elapsed: 0.0s"
                              "\r\x1b[2Knodes up: 3/3  tasks assigned: 4/10  rate: 2 tasks/s  elapsed: 2.0s"
                              "\r\x1b[2K"
                              "\r\x1b[2Knodes up: 3/3  tasks assigned: 4/10  rate: 2 tasks/s  elapsed: 2.0s\n")


def test_elapsed_text() -> None:
    assert [elapsed_text(s) for s in (0.04, 59.9, 61, 3725)] == ["0.0s", "59.9s", "1m01s", "1h02m05s"]


def test_sim_bench_progress_off_a_terminal() -> None:
    r = CliRunner().invoke(cli, ["sim", "bench", "--nodes", "20", "--services", "2", "--replicas", "50", "--json"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout.strip())  # stdout: the numbers alone, one JSON line
    assert result["tasks"] == result["running"] == 100
    last = r.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"nodes up: 20/20  tasks running: 100/100  rate: \d+ tasks/s  elapsed: \d+\.\ds", last), \
        r.stderr
    quiet = CliRunner().invoke(cli, ["sim", "bench", "--nodes", "5", "--replicas", "10", "--quiet"],
                               catch_exceptions=False)
    assert quiet.exit_code == 0 and quiet.stderr == "" and "running: 10" in quiet.stdout
