"""The pipes a runc container's start makes: padded to three, and none left open when one of them
cannot be made (a node out of descriptors must not lose more of them with every failed start)."""

from __future__ import annotations

import os

import pytest

from shoal.runtime import runc


def open_fds() -> set[int]:
    return {int(f) for f in os.listdir("/proc/self/fd")}


def test_two_pipes_padded_to_three() -> None:
    made = runc._pipes(2)
    try:
        assert len(made) == 3 and made[2] == (-1, -1)
        r, w = made[0]
        os.write(w, b"x")
        assert os.read(r, 1) == b"x"
    finally:
        for r, w in made[:2]:
            os.close(r)
            os.close(w)


def test_a_pipe_that_cannot_be_made_closes_those_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = os.pipe, []

    def pipe() -> tuple[int, int]:
        calls.append(1)
        if len(calls) == 3:
            raise OSError(24, "Too many open files")
        return real()

    before = open_fds()
    monkeypatch.setattr(runc.os, "pipe", pipe)
    with pytest.raises(OSError, match="Too many open files"):
        runc._pipes(3)
    assert len(calls) == 3 and open_fds() == before
